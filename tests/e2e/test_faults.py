"""The fault suite: at least a hundred randomized cases, each drawn from its seed, over kill points,
duplicate and concurrent deliveries, target timeouts and 5xx (some after the target applied the call),
throttling with Retry-After, invocations whose time runs out (continuations), poison shards and SES
outages.

Each case runs an initial read and a second read with removed, changed and added users, driving the
shard queue and its dead-letter queue itself so it can kill and redeliver. After each run the target,
the entity state, the counts and the logs must agree exactly with what the source says should have
happened. A failing case is run alone by its id, e.g. `pytest tests/e2e/test_faults.py -k seed17-`:
the case draws everything from its seed (cases with concurrent deliveries draw the same faults, though
threads may interleave differently).
"""

from __future__ import annotations

import csv
import io
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

import boto3
import httpx
import pytest

from syncjobs.admin import operations
from syncjobs.engine import deletes
from syncjobs.models.outcome import Outcome
from syncjobs.models.run import RunStatus
from syncjobs.store.entity_state import EntityStateStore
from syncjobs.store.mailer import Mailer
from syncjobs_local.demo import prepare, start, wait_for_run
from syncjobs_local.sample_data import write_groups
from tests.e2e.fault_kit import KILL_POINTS, Faults, FlakyTransport, Poison, SimClock, assert_exact, drive, injected
from tests.e2e.helpers import log_rows, rewrite_export, scim_groups, scim_users, wait_until
from tests.e2e.mail_kit import Ses, failure_queue_depth, note, scheduled, sent_subjects, state_of

pytestmark = pytest.mark.e2e

USERS, SHARD_SIZE = 12, 6
CASES = 100


@dataclass(frozen=True)
class Scenario:
    """The faults of one case, drawn from its seed."""

    seed: int
    kill_first: str | None  # one kill in the initial read, at a random occurrence of this point
    kill_second: str | None  # and one in the second read
    flaky: float  # share of target calls failing (503, timeouts, some after being applied)
    throttle: float  # share refused 429 with a Retry-After
    retry_after_max: int  # Retry-After drawn in 1..this many (simulated) seconds
    latency_s: float  # simulated seconds a target call takes
    timeout_s: int  # run_shard's Timeout in simulated seconds: small ones force continuations
    duplicates: float  # share of deliveries made twice
    concurrent: bool
    poison: bool  # one shard of the second read raises on every receive (dead-lettered)
    fan_out_deletes: bool  # the second read's deletes are made by delete batches, not by finalize itself

    @classmethod
    def draw(cls, seed: int) -> Scenario:
        rng = random.Random(f"scenario-{seed}")
        points: list[str | None] = [*KILL_POINTS, None]
        return cls(
            seed=seed,
            kill_first=KILL_POINTS[seed % len(KILL_POINTS)],  # every point, evenly
            kill_second=rng.choice(points),
            flaky=rng.choice([0.0, 0.1, 0.2]),
            throttle=rng.choice([0.0, 0.1, 0.25]),
            retry_after_max=rng.choice([1, 5, 30]),
            latency_s=rng.choice([0.1, 0.5, 1.5]),
            timeout_s=rng.choice([8, 20, 60]),
            duplicates=rng.choice([0.0, 0.3, 0.6]),
            concurrent=rng.random() < 0.25,
            poison=rng.random() < 0.2,
            fan_out_deletes=seed % 2 == 1,
        )

    @property
    def case_id(self) -> str:
        name = f"seed{self.seed}-{self.kill_first}-{self.kill_second}" + ("-poison" if self.poison else "")
        return name + ("-batched" if self.fan_out_deletes else "")


SCENARIOS = [Scenario.draw(seed) for seed in range(CASES)]


def export_ids(bucket: str, key: str) -> list[str]:
    body = boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    return [row[0] for row in list(csv.reader(io.StringIO(body)))[1:] if row]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.case_id for s in SCENARIOS])
def test_runs_stay_exact_under_faults(shared_aws, monkeypatch, scenario):
    aws = shared_aws
    rng = random.Random(scenario.seed)
    clock = SimClock()
    aws.clock = clock.now
    aws.enforce_timeouts({"RunShardFunction": scenario.timeout_s})
    job_id = f"faults-{scenario.seed}"
    prepared = prepare(
        aws,
        users=USERS,
        key=f"exports/{job_id}.csv",
        subscriber=None,
        bad_rows=False,
        job_id=job_id,
        shard_size=SHARD_SIZE,
        retry={"retries": 5, "delay_seconds": 0},
    )
    all_ids = {f"E{i:06d}" for i in range(1, USERS + 1)}
    shards = USERS // SHARD_SIZE

    def faults(kill_point: str | None, occurrences: dict[str, int]) -> Faults:
        transport = FlakyTransport(
            rng, clock, scenario.flaky, scenario.throttle, scenario.retry_after_max, scenario.latency_s
        )
        return Faults(rng, kill_point, occurrences, transport, clock)

    # Given faults armed for the initial read, when it runs, then it is exact
    initial = {
        "target_write": USERS,
        "after_state_write": shards,
        "after_parts_written": shards,
        "after_counted": shards,
        "in_finalize": 1,
    }
    first = faults(scenario.kill_first, initial)
    with injected(monkeypatch, first):
        run = drive(aws, start(aws, prepared.job_id), rng, scenario.duplicates, scenario.concurrent)
    assert_exact(aws, run, prepared.job_id, {Outcome.CREATED: all_ids}, all_ids)
    assert first.killed == 1

    # Given 3 users removed, 3 changed and 3 added, when the second read runs under new faults
    ids = sorted(all_ids)
    removed = set(rng.sample(ids, 3))
    changed = set(rng.sample(sorted(all_ids - removed), 3))
    added = {f"A{i:06d}" for i in range(3)}

    def change(rows: list[list[str]]) -> list[list[str]]:
        out = [r for r in rows if r[0] not in removed]
        for r in out:
            if r[0] in changed:
                r[4] = "Changed title"
        out += [
            [a, f"{a.lower()}@example.com", "New", "User", "Clerk", "Sales", "active", "2026-11-21T00:00:00Z"]
            for a in sorted(added)
        ]
        return out

    rewrite_export(prepared.bucket, prepared.key, change)
    rows = export_ids(prepared.bucket, prepared.key)
    shards = -(-len(rows) // SHARD_SIZE)
    poisoned_shard = rng.randrange(shards) if scenario.poison else None
    poison = Poison(None if poisoned_shard is None else f"{poisoned_shard:05d}")
    unread = (
        set() if poisoned_shard is None else set(rows[poisoned_shard * SHARD_SIZE : (poisoned_shard + 1) * SHARD_SIZE])
    )
    written = (added | changed) - unread
    shards_writing = {k for k in range(shards) if written & set(rows[k * SHARD_SIZE : (k + 1) * SHARD_SIZE])}
    second_points = {
        "target_write": len(written),
        "after_state_write": len(shards_writing),
        "after_parts_written": shards - bool(unread),
        "after_counted": shards,
        "in_finalize": 1,
    }
    kill_second = scenario.kill_second
    if kill_second and second_points[kill_second] == 0:
        kill_second = None  # the poison took every write of this run
    second = faults(kill_second, second_points)
    with injected(monkeypatch, second), poison.applied(monkeypatch), monkeypatch.context() as m:
        if scenario.fan_out_deletes:  # the 3 deletes go to delete batches of 2 and 1 (under the same faults)
            m.setattr(deletes, "INLINE_MAX_DELETES", 0)
            m.setattr(deletes, "DELETE_BATCH_SIZE", 2)
        run = drive(aws, start(aws, prepared.job_id), rng, scenario.duplicates, scenario.concurrent)

    unchanged = all_ids - removed - changed
    if poisoned_shard is None:
        expected = {
            Outcome.CREATED: added,
            Outcome.UPDATED: changed,
            Outcome.DELETED: removed,
            Outcome.SKIPPED: unchanged,
        }
        assert_exact(aws, run, prepared.job_id, expected, (all_ids - removed) | added)
        assert run.status is RunStatus.SUCCEEDED
    else:
        # the poisoned shard's entities get no outcome, and nothing is deleted: the read is not complete
        expected = {
            Outcome.CREATED: added - unread,
            Outcome.UPDATED: changed - unread,
            Outcome.SKIPPED: unchanged - unread,
        }
        assert_exact(aws, run, prepared.job_id, expected, all_ids | (added - unread))
        assert run.status is RunStatus.FAILED
        assert run.reason is not None
        assert f"shard {poisoned_shard:05d} could not be processed" in run.reason
        assert Poison.REASON in run.reason
    assert second.killed == (1 if kill_second else 0)
    assert run.failures == []


GROUP_KILL_POINTS = ("group_write", "after_counted", "after_parts_written", "in_finalize")
GROUP_CASES = [(seed, GROUP_KILL_POINTS[seed % len(GROUP_KILL_POINTS)]) for seed in range(100, 108)]


@pytest.mark.parametrize(("seed", "kill_point"), GROUP_CASES, ids=[f"seed{s}-{k}" for s, k in GROUP_CASES])
def test_groups_stay_exact_under_kills_duplicates_and_a_flaky_target(aws, monkeypatch, seed, kill_point):
    """Kills in the groups phase: at a group create (the target has it, the state does not: found by
    externalId, never created twice), and at the shard count that completes the users phase (the
    groups shards must still be queued, once)."""
    rng = random.Random(seed)
    users = 30
    prepared = prepare(aws, users=users, bad_rows=False, shard_size=10, retry={"retries": 5, "delay_seconds": 0})
    user_ids = sorted(f"E{i:06d}" for i in range(1, users + 1))
    members = {f"G{g}": user_ids[g * 5 : g * 5 + 8] for g in range(5)}
    boto3.client("s3").put_object(
        Bucket=prepared.bucket, Key="exports/groups.csv", Body=write_groups({g: f"Team {g}" for g in members}, members)
    )
    document = dict(prepared.document)
    document["entity_types"] = ["users", "groups"]
    document["mapping"] = {**document["mapping"], "groups": {"displayName": "{{ name }}"}}
    groups_file = {"key": "exports/groups.csv", "id_column": "group_id", "members_column": "members"}
    document["source"] = {**document["source"], "groups": groups_file}
    operations.apply_job(operations.parse_job(document))

    occurrences = {"group_write": 5, "after_counted": 4, "after_parts_written": 4, "in_finalize": 1}
    clock = SimClock()
    faults = Faults(rng, kill_point, occurrences, FlakyTransport(rng, clock, 0.2, 0.0, 1, 0.0), clock)
    with injected(monkeypatch, faults):
        run = drive(aws, start(aws, prepared.job_id), rng, duplicates=0.5, concurrent=seed % 2 == 0)

    assert faults.killed == 1
    assert {t: {o: n for o, n in c.items() if n} for t, c in run.counts.items()} == {
        "users": {"created": users},
        "groups": {"created": 5},
    }
    created = log_rows(aws, run.log_keys["created"])
    assert sorted(r["entity_id"] for r in created if r["entity_type"] == "groups") == sorted(members)
    target_users = scim_users(aws)
    target_groups = scim_groups(aws)
    headers = {"Authorization": f"Bearer {aws.scim.token}"}
    listed = httpx.get(f"{aws.scim.url}/Groups", params={"count": 0}, headers=headers).json()
    assert listed["totalResults"] == 5  # no group created twice
    for gid, ids in members.items():
        assert {m["value"] for m in target_groups[gid]["members"]} == {target_users[e]["id"] for e in ids}
    assert EntityStateStore().provisioned(prepared.job_id, "groups") == {g: target_groups[g]["id"] for g in members}


SES_CASES = list(range(200, 208))


@pytest.mark.parametrize("seed", SES_CASES, ids=[f"seed{s}-ses" for s in SES_CASES])
def test_a_mail_goes_exactly_once_whatever_ses_refuses(stack, monkeypatch, seed):
    """SES refuses a drawn number of sends (none, some of the stream's retries, or past them and then a
    drawn number of the scheduled retries), the stream is delivered again at drawn moments after it
    recovers, and retries fire on after it was sent: exactly one mail goes."""
    rng = random.Random(seed)
    ses = Ses(refusals=rng.randint(0, 14))
    monkeypatch.setattr(Mailer, "send_raw", lambda mailer, *args: ses.send_raw(mailer, *args))
    prepared = prepare(stack, users=5, bad_rows=True, shard_size=10)

    # Given a run that finished with errors, and the stream's attempts at its mail over
    run = wait_for_run(start(stack, prepared.job_id))
    wait_until(
        lambda: state_of(run.run_id) == "sent" or failure_queue_depth(stack) >= 1,
        "the mail was sent or the stream gave its record up",
    )

    # When the MailRetry schedule fires every 15 minutes, the stream now and then delivered again
    t0 = datetime.fromisoformat(note(run.run_id).at)
    for k in range(1, 20):
        if ses.refused >= ses.refusals and rng.random() < 0.3:
            stack.replay_streams(times=1)
        stack.invoke("NotifyFunction", scheduled(t0 + timedelta(minutes=15 * k)))
        if note(run.run_id).state == "sent" and rng.random() < 0.5:
            break

    # Then the mail went exactly once
    assert note(run.run_id).state == "sent"
    assert ses.sent == 1, f"{ses.sent} mails sent after {ses.refused} refusals"
    wait_until(lambda: len(sent_subjects(stack)) == 1, "the mail reached the outbox")
