"""Group membership decisions: which members to add and remove, in which PATCH requests, and why what a
target kept is wrong."""

import pytest

from syncjobs.connectors.scim_members import (
    PATCH_OP,
    chunked,
    gone_reason,
    member_diff,
    member_ids,
    member_patches,
    mismatch_reason,
    named,
)


@pytest.mark.parametrize(
    ("wanted", "current", "add", "remove"),
    [
        ([], [], [], []),
        (["b", "a"], [], ["a", "b"], []),
        ([], ["x", "y"], [], ["x", "y"]),
        (["a", "b", "c"], ["b", "c", "d"], ["a"], ["d"]),
        (["a", "a", "b"], ["b", "b"], ["a"], []),  # each id once
        (["a", "b"], ["b", "a"], [], []),  # order does not matter
    ],
)
def test_member_diff_adds_what_is_missing_and_removes_what_is_not_wanted(wanted, current, add, remove):
    assert member_diff(wanted, current) == (add, remove)


@pytest.mark.parametrize(
    ("ids", "size", "chunks"),
    [
        ([], 100, []),
        (["a"], 1, [["a"]]),
        (["a", "b", "c"], 2, [["a", "b"], ["c"]]),
        (["a", "b", "c", "d"], 2, [["a", "b"], ["c", "d"]]),
        (["a", "b"], 1000, [["a", "b"]]),
    ],
)
def test_chunked_cuts_ids_into_lists_of_at_most_size(ids, size, chunks):
    assert list(chunked(ids, size)) == chunks


def test_chunked_refuses_a_size_below_one():
    with pytest.raises(ValueError, match="at least 1"):
        list(chunked(["a"], 0))


def test_member_patches_send_removes_by_value_filter_then_adds_each_request_within_the_size():
    # Given three members to remove and three to add, two changes a request
    bodies = member_patches(add=["a1", "a2", "a3"], remove=["r1", "r2", "r3"], size=2)

    # Then two remove requests (one filtered remove operation per member), then two add requests
    assert all(body["schemas"] == [PATCH_OP] for body in bodies)
    assert [body["Operations"] for body in bodies] == [
        [{"op": "remove", "path": 'members[value eq "r1"]'}, {"op": "remove", "path": 'members[value eq "r2"]'}],
        [{"op": "remove", "path": 'members[value eq "r3"]'}],
        [{"op": "add", "path": "members", "value": [{"value": "a1"}, {"value": "a2"}]}],
        [{"op": "add", "path": "members", "value": [{"value": "a3"}]}],
    ]


def test_member_patches_quote_ids_in_the_filter_path():
    [body] = member_patches(add=[], remove=['we"ird\\id'], size=10)
    assert body["Operations"] == [{"op": "remove", "path": 'members[value eq "we\\"ird\\\\id"]'}]


def test_member_patches_of_nothing_is_no_request():
    assert member_patches([], [], 100) == []


@pytest.mark.parametrize(
    ("members", "ids"),
    [
        (None, []),
        ([], []),
        ([{"value": "a", "type": "User"}, {"value": "b"}], ["a", "b"]),
        ([{"value": "a"}, {"value": "a"}], ["a"]),
        ([{"display": "no value"}, {"value": ""}, "junk", {"value": "c"}], ["c"]),
    ],
)
def test_member_ids_reads_the_values_of_a_members_attribute(members, ids):
    assert member_ids(members) == ids


@pytest.mark.parametrize(
    ("wanted", "got", "reason"),
    [
        (["a", "b"], ["b", "a"], ""),
        ([], [], ""),
        (["a", "b", "c"], ["a"], "target did not keep the members written: 2 missing (b, c)"),
        (["a"], ["a", "z"], "target did not keep the members written: 1 unexpected (z)"),
        (["a", "b"], ["a", "z"], "target did not keep the members written: 1 missing (b), 1 unexpected (z)"),
        (
            [f"m{n:02}" for n in range(9)],
            [],
            "target did not keep the members written: 9 missing (m00, m01, m02, m03, m04 and 4 more)",
        ),
    ],
)
def test_mismatch_reason_names_missing_and_unexpected_members_with_counts(wanted, got, reason):
    assert mismatch_reason(wanted, got) == reason


def test_named_cuts_to_a_few_and_counts_the_rest():
    assert named(["a", "b"]) == "a, b"
    assert named(["a", "b", "c"], limit=2) == "a, b and 1 more"


def test_gone_reason_names_the_gone_members_sorted():
    assert gone_reason(["u2", "u1"]) == (
        "2 member(s) no longer exist in the target: u1, u2 (deleted there; the other members were written)"
    )
