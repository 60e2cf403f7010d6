"""Which entity of a job owns a target id: one Query of the by_target index, not a read of the job's
whole entity state (an adoption asks it; a job may hold millions of entities)."""

from syncjobs.models.state import EntityState
from syncjobs.store.entity_state import EntityStateStore


def test_the_owner_of_a_target_id_is_the_entity_whose_state_holds_it(aws):
    # Given two entities of a job's users, and one of another job holding the same target id
    store = EntityStateStore()
    store.put_many("job-a", "users", [EntityState("E1", "t-1", "h1"), EntityState("E2", "t-2", "h2")], "2026-12-03")
    store.put_many("job-b", "users", [EntityState("X1", "t-3", "h3")], "2026-12-03")

    # When the owners are asked per target id
    # Then each id names its entity, within the job and entity type only
    assert store.owner_of("job-a", "users", "t-2") == "E2"
    assert store.owner_of("job-a", "users", "t-3") is None  # job-b's entity
    assert store.owner_of("job-a", "groups", "t-1") is None
    assert store.owner_of("job-b", "users", "t-3") == "X1"

    # And an entity whose state is deleted owns nothing any more
    store.delete_many("job-a", "users", ["E2"])
    assert store.owner_of("job-a", "users", "t-2") is None
