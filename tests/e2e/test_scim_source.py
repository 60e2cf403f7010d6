"""A SCIM 2.0 service as the source: users and groups read page by page (sorted by id) in id-range
shards, members resolved to the target's ids, and a delta read by meta.lastModified."""

import uuid

import httpx
import pytest

from syncjobs.admin import operations
from syncjobs.models.run import ReadMode
from syncjobs_local.demo import SECRET_NAME, prepare, start, wait_for_run
from tests.e2e.helpers import log_rows, scim_groups, scim_users

pytestmark = pytest.mark.e2e

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"


def nonzero(counts: dict[str, int]) -> dict[str, int]:
    return {outcome: n for outcome, n in counts.items() if n}


def test_a_scim_service_as_source_provisions_users_and_groups_and_reads_deltas(stack):
    # Given a second SCIM service holding 120 users and 3 groups, behind the same bearer token
    source_url = stack.scim.tenant_url(f"source-{uuid.uuid4().hex[:8]}")
    http = httpx.Client(base_url=source_url, headers={"Authorization": f"Bearer {stack.scim.token}"})
    ids = []
    for i in range(120):
        user = {
            "schemas": [USER_SCHEMA],
            "userName": f"person{i}@source.example.com",
            "name": {"givenName": f"Given{i}", "familyName": "Source"},
            "title": "Engineer",
            "active": i % 10 != 0,
            "emails": [{"value": f"person{i}@source.example.com", "type": "work", "primary": True}],
        }
        response = http.post("/Users", json=user)
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    listed = {"Even": ids[0::2], "Odd": ids[1::2], "Few": ids[:3]}
    for name, members in listed.items():
        body = {"schemas": [GROUP_SCHEMA], "displayName": name, "members": [{"value": m} for m in members]}
        assert http.post("/Groups", json=body).status_code == 201

    prepared = prepare(stack, users=1, bad_rows=False)  # for the target and its token secret
    document = dict(prepared.document)
    document.update(
        job_id="scim-to-scim",
        source={
            "type": "scim",
            "name": "Source SCIM",
            "base_url": source_url,
            "token_secret": SECRET_NAME,
            "page_size": 25,
        },
        entity_types=["users", "groups"],
        mapping={
            "users": {
                "userName": "{{ userName }}",
                "externalId": "{{ id }}",
                "name.givenName": "{{ name.givenName }}",
                "name.familyName": "{{ name.familyName }}",
                "title": "{{ title }}",
                "active": "{{ active }}",
                "emails": "{{ emails }}",
            },
            "groups": {"displayName": "{{ displayName }}"},
        },
        shard_size=40,
        delta={"enabled": True, "full_read_every": 5},
    )
    operations.apply_job(operations.parse_job(document))

    # When the job runs: a full read
    first = wait_for_run(start(stack, "scim-to-scim"), stack=stack)

    # Then users and groups are created, 3 users shards of 40 then 1 groups shard
    assert first.read_mode is ReadMode.FULL
    assert first.source_name == "Source SCIM"
    assert nonzero(first.counts["users"]) == {"created": 120}
    assert nonzero(first.counts["groups"]) == {"created": 3}
    assert [(p.entity_type.value, p.count) for p in first.phases] == [("users", 3), ("groups", 1)]
    users = scim_users(stack)  # by externalId, which the mapping set to the source id
    users = {k: v for k, v in users.items() if k in set(ids)}
    assert len(users) == 120
    assert sum(1 for u in users.values() if u["active"] is False) == 12  # booleans stay booleans
    groups = scim_groups(stack)
    by_name = {g["displayName"]: g for g in groups.values()}
    for name, members in listed.items():
        assert {m["value"] for m in by_name[name]["members"]} == {users[m]["id"] for m in members}

    # Given two users changed in the source after that read
    changed = [ids[5], ids[77]]
    for source_id in changed:
        user = http.get(f"/Users/{source_id}").json()
        user["title"] = "Principal Engineer"
        assert http.put(f"/Users/{source_id}", json=user).status_code == 200

    # When the job runs again: a delta read asks the source only for what changed
    second = wait_for_run(start(stack, "scim-to-scim"), stack=stack)

    # Then exactly those two are read and updated, and nothing else is touched
    assert second.read_mode is ReadMode.DELTA
    assert nonzero(second.counts["users"]) == {"updated": 2}
    assert nonzero(second.counts["groups"]) == {}
    assert {r["entity_id"] for r in log_rows(stack, second.log_keys["updated"])} == set(changed)
    assert {scim_users(stack)[i]["title"] for i in changed} == {"Principal Engineer"}
