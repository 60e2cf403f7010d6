"""Shards respect their deadline: with run_shard's Timeout scaled down to 3 s and a target that takes
50 ms a call and refuses 10% of calls with 429 (Retry-After 1 to 10 s), a 2,000-user run ends exact,
and no invocation is killed by its timeout: each shard hands what it cannot finish to a continuation.
Without continuations (the CONTINUATIONS=off test hook) the same run has its invocations killed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from syncjobs import settings
from syncjobs.admin import operations
from syncjobs.models.outcome import Outcome
from syncjobs.models.run import Run, RunStatus
from syncjobs.store.runs import RunStore
from syncjobs_local.demo import allow_destination, prepare, start, wait_for_run
from syncjobs_local.peer import Behaviour, PeerProxy
from syncjobs_local.stack import LocalStack
from tests.e2e.helpers import log_rows, scim_users, wait_until

# Minutes of wall time (2,000 users behind a throttling target): with the 10,000-user scenario in
# `make test-large`, not in `make test`.
pytestmark = [pytest.mark.e2e, pytest.mark.large]

USERS = 2000
SHARD_SIZE = 50
THROTTLED = Behaviour(latency_s=0.05, throttle_share=0.10, retry_after_s=(1, 10), max_refusals_in_a_row=2, seed=11)


@pytest.fixture
def slow_target(stack: LocalStack) -> Iterator[PeerProxy]:
    # Five workers, not the template's ten: locally every invocation shares one process (and its GIL)
    # with moto and the pollers, so ten would give each a tenth of a core, a sixth of what a 1 GB
    # Lambda gets; five still give each less than half of it.
    stack.reset(pollers=True, timeouts={"RunShardFunction": 3}, shard_workers=5)
    assert stack.scim is not None
    proxy = PeerProxy(f"http://127.0.0.1:{stack.scim.port}", THROTTLED).start()
    yield proxy
    proxy.stop()


def start_throttled_run(stack: LocalStack, proxy: PeerProxy) -> tuple[str, dict[str, dict[str, str]]]:
    assert stack.scim is not None
    prepared = prepare(
        stack, users=USERS, bad_rows=False, shard_size=SHARD_SIZE, retry={"retries": 3, "delay_seconds": 1}
    )
    document = prepared.document
    document["target"]["base_url"] = f"{proxy.url}/{stack.scim.tenant}/v2"
    allow_destination(f"{proxy.url}/")  # the secret may go to the proxy too
    operations.apply_job(operations.parse_job(document))
    return start(stack, prepared.job_id), prepared.export.valid


def assert_exact(stack: LocalStack, run: Run, valid: dict[str, dict[str, str]]) -> None:
    assert stack.invocations.killed == [], f"{len(stack.invocations.killed)} invocation(s) killed by their timeout"
    assert run.status is RunStatus.SUCCEEDED, run.reason
    assert run.totals()[Outcome.CREATED] == USERS
    assert sum(run.totals().values()) == USERS
    created = log_rows(stack, run.log_keys["created"])
    assert sorted(r["entity_id"] for r in created) == sorted(valid)  # each user logged once
    users = scim_users(stack)
    assert set(users) == set(valid)
    assert len(users) == USERS  # nobody created twice


def test_a_run_against_a_slow_throttling_target_ends_exact_with_no_invocation_killed(stack, slow_target):
    # Given a 2,000-user export, run_shard's Timeout at 3 s and a slow target that throttles 10% of calls
    run_id, valid = start_throttled_run(stack, slow_target)

    # When the run goes through the shard queue
    run = wait_for_run(run_id, timeout_s=600)

    # Then it ends exact: counts, logs and target, with no invocation killed by its timeout
    assert_exact(stack, run, valid)
    assert slow_target.throttled > 50  # the target really did refuse calls
    # And shards were handed on: more parts were counted than there are shards
    runs = RunStore()
    record = runs.get(run_id)
    assert len(runs.counted_parts(record)) > record.run.shards_done == USERS // SHARD_SIZE


def test_without_continuations_the_same_run_has_invocations_killed(stack, slow_target, monkeypatch):
    # Given the same run with continuations switched off (the test hook)
    monkeypatch.setenv("CONTINUATIONS", "off")
    settings.reset()
    run_id, valid = start_throttled_run(stack, slow_target)

    # When shards run past their 3 s
    wait_until(lambda: bool(stack.invocations.killed), "an invocation is killed by its timeout", timeout_s=120)

    # Then the local stack kills them, and the exactness check above fails
    with pytest.raises(AssertionError, match="killed by their timeout"):
        assert_exact(stack, RunStore().get(run_id).run, valid)
    monkeypatch.delenv("CONTINUATIONS")
    settings.reset()
