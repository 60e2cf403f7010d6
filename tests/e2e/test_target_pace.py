"""Writes at the target's pace: against a target that refuses writes past N a second with 429 (the peer's
`max_writes_per_second`), a job with `target.max_writes_per_second: N` (and `max_concurrency`: shards
writing several entities at once) ends exact with only a small share of its writes refused; the same
job without the pace has a large share refused."""

from __future__ import annotations

import pytest

from syncjobs.admin import operations
from syncjobs.models.outcome import Outcome
from syncjobs.models.run import RunStatus
from syncjobs_local.demo import allow_destination, prepare, start, wait_for_run
from syncjobs_local.peer import Behaviour, PeerProxy
from syncjobs_local.stack import LocalStack
from tests.e2e.helpers import log_rows, scim_users

pytestmark = pytest.mark.e2e

USERS = 240
SHARD_SIZE = 50
LIMIT = 10.0  # writes a second the peer takes
CONCURRENCY = 8  # the job's writes at once, across its shards (up to 4 a shard)
PACED_SHARE = 0.05  # loose enough for a loaded 2-core machine
UNPACED_SHARE = 0.1  # measured about 0.3 at 15/s: twice the paced bound, robust to a slower machine


def start_run(stack: LocalStack, peer: PeerProxy, pace: float | None) -> tuple[str, set[str]]:
    assert stack.scim is not None
    peer.behaviour = Behaviour(latency_s=0.01, max_writes_per_second=LIMIT)
    prepared = prepare(
        stack, users=USERS, bad_rows=False, shard_size=SHARD_SIZE, retry={"retries": 5, "delay_seconds": 1}
    )
    document = prepared.document
    document["target"]["base_url"] = f"{peer.url}/{stack.scim.tenant}/v2"
    allow_destination(f"{peer.url}/")  # the secret may go to the proxy too
    document["target"]["max_concurrency"] = CONCURRENCY
    if pace is not None:
        document["target"]["max_writes_per_second"] = pace
    operations.apply_job(operations.parse_job(document))
    return start(stack, prepared.job_id), set(prepared.export.valid)


def refused_share(peer: PeerProxy) -> float:
    return peer.writes_refused / max(1, peer.writes)


def test_a_paced_job_ends_exact_with_few_writes_refused(stack, peer):
    # Given a target taking 10 writes a second, and a job paced at 10
    run_id, valid = start_run(stack, peer, LIMIT)

    # When the run goes through the shard queue
    run = wait_for_run(run_id, timeout_s=600)

    # Then it ends exact: counts, logs and target
    assert run.status is RunStatus.SUCCEEDED, run.reason
    assert run.totals()[Outcome.CREATED] == USERS
    assert sum(run.totals().values()) == USERS
    created = log_rows(stack, run.log_keys["created"])
    assert sorted(r["entity_id"] for r in created) == sorted(valid)
    users = scim_users(stack)
    assert set(users) == valid
    assert len(users) == USERS
    # And the target refused few of its writes (counted at the target)
    assert peer.writes >= USERS
    assert refused_share(peer) <= PACED_SHARE, f"{peer.writes_refused} of {peer.writes} writes refused"


def test_without_the_pace_the_same_job_has_many_writes_refused(stack, peer):
    # Given the same job and target, the job not paced
    run_id, _ = start_run(stack, peer, None)

    # When the run ends
    wait_for_run(run_id, timeout_s=600)

    # Then a large share of its writes was refused: the bound above is not met by chance
    assert refused_share(peer) > UNPACED_SHARE, f"{peer.writes_refused} of {peer.writes} writes refused"
