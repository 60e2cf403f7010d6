"""Merged logs: one downloadable file per outcome, built without ever holding it.

A merged log is the header, then the counted parts' logs of that outcome in reading order, then
finalize's own lines (its `tail`). Parts are read a batch at a time and gathered until they reach
UPLOAD_PART_BYTES, which then go up as one part of an S3 multipart upload; a log that never gets that
big is one PUT, as before (the common case). An uploaded part ends only between two counted parts,
so where parts end depends only on what is merged: a retried or concurrent merge uploads the same
bytes under the same part numbers, and the file is byte for byte what joining everything in memory
gave. Memory: the part being gathered plus one batch of counted parts, whatever the run's size.

Progress is saved after each uploaded part (store/log_merges.py: the outcome, the upload, its
parts' ETags, the next counted part to read). When the invocation's budget cannot cover another
batch, OutOfTime is raised with the progress saved, and a later invocation goes on from there
(advance_handler hands it on). Every save is conditional on the version read: a merger that finds
that another one saved first follows it; an upload created by a merger that lost is aborted; an
upload found gone (completed before its end was saved, or aborted by the bucket's lifecycle rule)
has its log merged again from the start.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from syncjobs.deadline import Budget
from syncjobs.engine.outcome_log import header
from syncjobs.models.outcome import OUTCOMES, Outcome
from syncjobs.observability import logger
from syncjobs.store.errors import Conflict
from syncjobs.store.log_merges import LogMerges, MergeState
from syncjobs.store.objects import LogObjects, UploadGone, log_download_name, log_key, part_key
from syncjobs.store.runs import RunRecord

UPLOAD_PART_BYTES = 8 * 1024 * 1024  # gathered before a part goes up (S3 wants >= 5 MiB but the last)
BATCH = 16  # counted parts read at once (LogObjects.get_many reads them concurrently)
STEP_S = 2.0  # what one batch of reads and one part's upload may take, at most, on a slow day
LOGS, SWEPT = "logs", "swept"  # the merge of finalize, and of the sweep that ends a stalled run

Manifests = list[tuple[str, str, dict[str, Any]]]  # (part, attempt, manifest), in reading order


class _Gathered:
    """The bytes gathered for the next uploaded part: one buffer, grown in place and handed to the
    upload as it is (joining chunks would hold the part twice)."""

    def __init__(self) -> None:
        self.data = bytearray()

    @property
    def size(self) -> int:
        return len(self.data)

    def add(self, data: bytes) -> None:
        self.data += data

    def take(self) -> bytearray:
        data, self.data = self.data, bytearray()
        return data


class _Merger:
    def __init__(
        self,
        record: RunRecord,
        manifests: Manifests,
        tails: Mapping[Outcome, bytes],
        logs: LogObjects,
        budget: Budget,
        name: str,
    ) -> None:
        self.run, self.fmt = record.run, record.job.log_format
        self.manifests, self.tails, self.logs, self.budget, self.name = manifests, tails, logs, budget, name
        self.merges = LogMerges()
        self.state = self._read()

    def _read(self) -> MergeState:
        state = self.merges.get(self.run.run_id, self.name)
        if state is None:
            raise RuntimeError(f"the log merge {self.name} of run {self.run.run_id} was never begun")
        return state

    def _save(self, state: MergeState) -> None:
        self.state = self.merges.save(self.run.run_id, self.name, state)

    def merge(self) -> dict[str, str]:
        while self.state.outcome < len(OUTCOMES):
            try:
                self._outcome(OUTCOMES[self.state.outcome])
            except Conflict:
                self.state = self._read()  # another merger saved first: go on from where it got
            except UploadGone:
                self._again()
        return dict(self.state.log_keys)

    def _again(self) -> None:
        """The upload is gone. If no one moved on, it was completed before its end was saved, or
        aborted: merge this log again from its start (the bytes are the same)."""
        seen = self._read()
        if seen != self.state:
            self.state = seen
            return
        logger.info("log merge starts a log again", extra={"run_id": self.run.run_id, "outcome": seen.outcome})
        try:
            self._save(replace(seen, upload_id=None, etags=(), next_part=0))
        except Conflict:
            self.state = self._read()

    def _outcome(self, outcome: Outcome) -> None:
        run_id, fmt, swept = self.run.run_id, self.fmt, self.name.startswith(SWEPT)
        key = log_key(run_id, outcome.value, fmt, swept)
        wanted = [
            (i, part_key(run_id, part, attempt, f"{outcome.value}.{fmt}"))
            for i, (part, attempt, manifest) in enumerate(self.manifests)
            if outcome.value in manifest["outcomes"]
        ]
        gathered = _Gathered()
        first = not self.state.etags
        if first:
            gathered.add(header(fmt))
        headed = gathered.size
        todo = [(i, k) for i, k in wanted if i >= self.state.next_part]
        for start in range(0, len(todo), BATCH):
            batch = todo[start : start + BATCH]
            self.budget.check(f"merging the {outcome.value} log", STEP_S)
            for (i, _), body in zip(batch, self.logs.get_many([k for _, k in batch]), strict=True):
                gathered.add(body)
                if gathered.size >= UPLOAD_PART_BYTES:
                    self._upload(key, gathered.take(), next_part=i + 1)
        gathered.add(self.tails.get(outcome, b""))
        done = dict(self.state.log_keys)
        if self.state.etags:
            etags = self.state.etags
            if gathered.size:  # the last part (it may be small); not saved: a retry uploads it again
                assert self.state.upload_id is not None
                number = len(etags) + 1
                etags += (self.logs.upload_part(key, self.state.upload_id, number, gathered.take()),)
            assert self.state.upload_id is not None
            self.logs.complete_upload(key, self.state.upload_id, etags)
            done[outcome.value] = key
        elif gathered.size > headed:
            self.logs.put(key, gathered.take(), log_download_name(self.run.job_id, run_id, key))
            done[outcome.value] = key
        self._save(
            replace(self.state, outcome=self.state.outcome + 1, next_part=0, upload_id=None, etags=(), log_keys=done)
        )

    def _upload(self, key: str, data: bytearray, next_part: int) -> None:
        """Upload the next part of the log and save how far the merge got."""
        if self.state.upload_id is None:
            download = log_download_name(self.run.job_id, self.run.run_id, key)
            upload_id = self.logs.start_upload(key, download)
            try:
                self._save(replace(self.state, upload_id=upload_id))
            except Conflict:
                self.logs.abort_upload(key, upload_id)  # another merger's upload is the one
                raise
        assert self.state.upload_id is not None
        etag = self.logs.upload_part(key, self.state.upload_id, len(self.state.etags) + 1, data)
        self._save(replace(self.state, etags=(*self.state.etags, etag), next_part=next_part))


def merge_logs(
    record: RunRecord,
    manifests: Manifests,
    tails: Mapping[Outcome, bytes],
    logs: LogObjects,
    budget: Budget,
    name: str = LOGS,
) -> dict[str, str]:
    """The merged logs (outcome -> key) of a run whose merge was begun (LogMerges.begin), merged
    from where it got. OutOfTime when the budget ran out first (the progress is saved)."""
    return _Merger(record, manifests, tails, logs, budget, name).merge()
