"""Full and delta reads: which mode, which rows, which watermark."""

import pytest

from syncjobs.connectors.base import SourceRecord, SourceRowError
from syncjobs.engine.delta import DeltaFilter, choose_read_mode, newer
from syncjobs.models.job import DeltaSettings
from syncjobs.models.run import ReadMode, RunType

WM = "2026-11-20T00:00:00+00:00"
ON = DeltaSettings(full_read_every=3)


USERS_WM = {"users": WM}
BOTH_WM = {"users": WM, "groups": "2026-11-01T00:00:00+00:00"}


@pytest.mark.parametrize(
    ("run_type", "delta", "watermarks", "since_full", "types", "mode"),
    [
        (RunType.READ, None, USERS_WM, 0, ["users"], ReadMode.FULL),  # delta reads off
        (RunType.READ, ON, {}, 0, ["users"], ReadMode.FULL),  # first read of the job
        (RunType.READ, ON, USERS_WM, 0, ["users"], ReadMode.DELTA),
        (RunType.READ, ON, USERS_WM, 2, ["users"], ReadMode.DELTA),
        (RunType.READ, ON, USERS_WM, 3, ["users"], ReadMode.FULL),  # forced after 3 delta reads
        (RunType.READ, DeltaSettings(enabled=False), USERS_WM, 0, ["users"], ReadMode.FULL),
        (RunType.RESYNC, ON, USERS_WM, 0, ["users"], ReadMode.FULL),
        (RunType.SIMULATE, ON, USERS_WM, 0, ["users"], ReadMode.FULL),
        (RunType.READ, ON, USERS_WM, 0, ["users", "groups"], ReadMode.FULL),  # groups new to the job
        (RunType.READ, ON, BOTH_WM, 0, ["users", "groups"], ReadMode.DELTA),
    ],
)
def test_read_mode(run_type, delta, watermarks, since_full, types, mode):
    got, since = choose_read_mode(run_type, delta, watermarks, since_full, types)
    assert got is mode
    assert since == ({t: watermarks[t] for t in types} if mode is ReadMode.DELTA else {})


def test_a_delta_filter_keeps_modified_and_unreadable_rows_and_tracks_the_newest():
    records = [
        SourceRecord(2, "old", {}, "2026-11-19T10:00:00Z"),
        SourceRecord(3, "same", {}, "2026-11-20T00:00:00Z"),
        SourceRecord(4, "new", {}, "2026-11-21T08:30:00Z"),
        SourceRecord(5, "no-time", {}, "yesterday"),
        SourceRowError(6, "row 6", "bad"),
    ]
    delta = DeltaFilter(WM)
    assert [r.entity_id for r in delta(records)] == ["new", "no-time", "row 6"]
    assert delta.watermark == "2026-11-21T08:30:00+00:00"


def test_a_full_read_filter_keeps_everything():
    records = [SourceRecord(2, "a", {}, "2020-01-01T00:00:00Z")]
    assert list(DeltaFilter(None)(records)) == records


def test_newer_compares_times_not_text():
    assert newer("2026-11-21T08:00:00+00:00", "2026-11-21T08:30:00+01:00") == "2026-11-21T08:00:00+00:00"
    assert newer(None, WM) == WM
    assert newer(None, None) is None
