"""decide_adoption: an existing target entity is taken over only when it is ours and nobody else's."""

import pytest

from syncjobs.engine.adoption import Adopt, Candidate, Conflict, decide_adoption

MARKED = Candidate("t1", "E1")  # carries E1's mark: created by syncjobs for E1
UNMARKED = Candidate("t1", "")  # hand-made: no externalId
OTHER = Candidate("t1", "E2")  # created by syncjobs for another source entity


def decide(candidates, owners=None, adopt_unmarked=False, entity_id="E1", marker="E1"):
    return decide_adoption(
        candidates,
        entity_id=entity_id,
        marker=marker,
        owners=owners or {},
        adopt_unmarked=adopt_unmarked,
        key="userName",
    )


@pytest.mark.parametrize(
    ("case", "candidates", "owners", "adopt_unmarked", "expected"),
    [
        (
            "ours, owned by nobody (a retried create)",
            [MARKED],
            {},
            False,
            Adopt("t1", "matched existing account t1 (externalId E1)"),
        ),
        (
            "ours, owned by this very entity",
            [MARKED],
            {"t1": "E1"},
            False,
            Adopt("t1", "matched existing account t1 (externalId E1)"),
        ),
        (
            "unmarked, with the opt-in",
            [UNMARKED],
            {},
            True,
            Adopt("t1", "matched existing account t1 (externalId empty; target.adopt_unmarked)"),
        ),
        (
            "unmarked, without the opt-in",
            [UNMARKED],
            {},
            False,
            Conflict(
                "existing account t1 matching userName has no externalId (not created by syncjobs); "
                "not taken over unless target.adopt_unmarked is true"
            ),
        ),
        (
            "marked for another source entity, even with the opt-in",
            [OTHER],
            {},
            True,
            Conflict("existing account t1 matching userName is marked for another source entity (externalId E2)"),
        ),
        (
            "ours by its mark but owned by another entity of the job",
            [MARKED],
            {"t1": "E7"},
            False,
            Conflict("existing account t1 matching userName is owned by entity E7 of this job"),
        ),
        (
            "unmarked and opted in, but owned by another entity",
            [UNMARKED],
            {"t1": "E7"},
            True,
            Conflict("existing account t1 matching userName is owned by entity E7 of this job"),
        ),
        (
            "two accounts match, even both ours",
            [Candidate("t2", "E1"), MARKED],
            {},
            True,
            Conflict("2 existing accounts match userName (t1, t2): ambiguous, none adopted"),
        ),
        ("nothing matches", [], {}, True, Conflict("no existing account matches userName")),
    ],
)
def test_adoption_decision(case, candidates, owners, adopt_unmarked, expected):
    assert decide(candidates, owners, adopt_unmarked) == expected, case


def test_given_a_mapping_that_sets_externalId_then_that_value_is_the_mark():
    # Given the mapping writes externalId "HR-1" for source entity E1
    # When an account marked HR-1 is found, and one marked E1
    # Then the first is ours, the second is not
    assert isinstance(decide([Candidate("t1", "HR-1")], marker="HR-1"), Adopt)
    assert isinstance(decide([Candidate("t1", "E1")], marker="HR-1"), Conflict)


def test_given_groups_then_the_reason_names_a_group():
    decision = decide_adoption(
        [Candidate("g1", "G1")],
        entity_id="G1",
        marker="G1",
        owners={},
        adopt_unmarked=False,
        key="externalId",
        noun="group",
    )
    assert decision == Adopt("g1", "matched existing group g1 (externalId G1)")


def test_given_no_mark_to_compare_then_an_unmarked_account_is_not_ours():
    # Given a create that writes no externalId (marker empty)
    # When an unmarked account is found, without the opt-in
    # Then it is not taken for ours
    assert isinstance(decide([UNMARKED], marker=""), Conflict)
