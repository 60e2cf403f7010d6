"""The counts as a run's type means them: a validate run's entities are valid or invalid."""

from __future__ import annotations

import pytest

from syncjobs.notify.words import named_counts, named_counts_by_type

COUNTS = {"created": 0, "updated": 0, "deleted": 0, "skipped": 504, "failed": 3}


@pytest.mark.parametrize(
    ("run_type", "counts", "expected"),
    [
        ("validate", COUNTS, {"valid": 504, "invalid": 3}),
        ("validate", {}, {"valid": 0, "invalid": 0}),
        ("read", COUNTS, COUNTS),
        ("resync", {"created": 2}, {"created": 2, "updated": 0, "deleted": 0, "skipped": 0, "failed": 0}),
        ("simulate", COUNTS, COUNTS),
    ],
)
def test_counts_under_the_names_the_run_type_means(run_type, counts, expected):
    got = named_counts(run_type, counts)
    assert got == expected
    assert list(got) == list(expected)  # in the order they are shown


def test_each_entity_type_is_named_the_same_way():
    got = named_counts_by_type("validate", {"users": COUNTS, "groups": {"skipped": 40}})
    assert got == {"users": {"valid": 504, "invalid": 3}, "groups": {"valid": 40, "invalid": 0}}
