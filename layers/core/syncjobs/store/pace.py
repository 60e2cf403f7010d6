"""A job's pace against its target (engine/pace.py's state), one item in the jobs table:

  pace  pk=JOB#<job_id>  sk=PACE   tokens, at, rate, paused_until, leases (holder -> [slots, until]), version

Every change is a read (consistent) and a write conditional on the version read: workers of the job
change it concurrently, and the loser of a race reads again. A worker takes a batch of tokens per
write, so the item is written about once per batch, not once per target write.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

from botocore.exceptions import ClientError

from syncjobs.engine.pace import PaceState
from syncjobs.settings import get_settings
from syncjobs.store import codec
from syncjobs.store.clients import client
from syncjobs.store.errors import TransientStoreError, translate

RACES = 12  # lost conditional writes in a row before giving up (as a transient error)
RACE_BACKOFF_S = 0.005  # the first pause after a lost race; doubled each time, jittered, capped
RACE_BACKOFF_CAP_S = 0.25
T = TypeVar("T")


def pace_key(job_id: str) -> dict[str, Any]:
    return codec.dump_item({"pk": f"JOB#{job_id}", "sk": "PACE"})


def _state(item: dict[str, Any] | None) -> PaceState:
    if not item:
        return PaceState()
    plain = codec.load_item(item)
    leases = {h: (int(lease[0]), float(lease[1])) for h, lease in (plain.get("leases") or {}).items()}
    rate = plain.get("rate")
    return PaceState(
        tokens=float(plain.get("tokens", 0.0)),
        at=float(plain.get("at", 0.0)),
        rate=None if rate is None else float(rate),
        paused_until=float(plain.get("paused_until", 0.0)),
        leases=leases,
        version=int(plain.get("version", 0)),
    )


def race_pause_s(lost: int, draw: Callable[[float, float], float] = random.uniform) -> float:
    """How long to wait after losing the `lost`-th race in a row: a full-jitter exponential backoff,
    so that workers who read the same version do not all write again at the same moment (without it,
    ten busy workers lost eight races in a row under load)."""
    return draw(0.0, min(RACE_BACKOFF_CAP_S, RACE_BACKOFF_S * 2 ** (lost - 1)))


class PaceStore:
    def __init__(self, sleep: Callable[[float], None] = time.sleep) -> None:
        self._ddb = client("dynamodb")
        self._table = get_settings().jobs_table
        self._sleep = sleep

    def change(self, job_id: str, step: Callable[[PaceState], tuple[T, PaceState]]) -> T:
        """Apply `step` (pure: the state read -> what to return, the state to write) to the job's pace,
        once it wins the conditional write; a state `step` returns unchanged is not written."""
        for lost in range(RACES):
            if lost:
                self._sleep(race_pause_s(lost))
            try:
                read = self._ddb.get_item(TableName=self._table, Key=pace_key(job_id), ConsistentRead=True)
            except ClientError as err:
                raise translate(err, f"reading the pace of job {job_id}") from err
            before = _state(read.get("Item"))
            answer, after = step(before)
            if after == before:
                return answer
            if self._written(job_id, before.version, after):
                return answer
        raise TransientStoreError(f"the pace of job {job_id} changed {RACES} times in a row while writing it")

    def _written(self, job_id: str, version: int, state: PaceState) -> bool:
        item = {
            "pk": f"JOB#{job_id}",
            "sk": "PACE",
            "item_type": "pace",
            "tokens": state.tokens,
            "at": state.at,
            "rate": state.rate,
            "paused_until": state.paused_until,
            "leases": {h: [slots, until] for h, (slots, until) in state.leases.items()},
            "version": version + 1,
        }
        condition = "attribute_not_exists(pk)" if version == 0 else "version = :v"
        kwargs: dict[str, Any] = {"ConditionExpression": condition}
        if version:
            kwargs["ExpressionAttributeValues"] = {":v": codec.dump(version)}
        try:
            self._ddb.put_item(TableName=self._table, Item=codec.dump_item(item), **kwargs)
        except ClientError as err:
            if err.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise translate(err, f"writing the pace of job {job_id}") from err
        return True
