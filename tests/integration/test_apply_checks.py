"""`jobs apply` through the admin API handler refuses (422) what cannot run as written, naming it, and
accepts a job whose export is not there yet (start_run checks it when the run starts)."""

import pytest

from syncjobs.store.errors import NotFound
from syncjobs.store.jobs import JobStore
from syncjobs_local.demo import prepare
from tests.integration.test_admin_jobs import call

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def changed(document: dict, **users_mapping: str) -> dict:
    mapping = {**document["mapping"], "users": {**document["mapping"]["users"], **users_mapping}}
    return {**document, "job_id": "checked", "mapping": mapping}


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda d: changed(d, userName="{{ email | lowr }}"), "mapping.users.userName: unknown filter 'lowr'"),
        (
            lambda d: changed(d, title="{{ job_title }}"),
            "mapping.users.title: column 'job_title' is not in the header of s3://",
        ),
        (
            lambda d: {**d, "job_id": "checked", "target": {**d["target"], "token_secret": "syncjobs/nope"}},
            "target.token_secret: secret 'syncjobs/nope' does not exist",
        ),
        (
            lambda d: {**d, "job_id": "checked", "target": {**d["target"], "token_secret": "elsewhere/token"}},
            "target.token_secret: secret 'elsewhere/token' is not under the prefix 'syncjobs/'",
        ),
        (
            lambda d: changed(d, name="{{ first_name }}"),
            "mapping.users: name and name.givenName: conflict, name sets the whole attribute",
        ),
        (
            lambda d: changed(d, **{f"{ENTERPRISE}:department": "{{ a }}", f"{ENTERPRISE}:Department": "{{ b }}"}),
            f"mapping.users: {ENTERPRISE}:department and {ENTERPRISE}:Department: both set the same attribute",
        ),
    ],
    ids=["filter-typo", "unknown-column", "missing-secret", "outside-prefix", "whole-and-part", "extension-twice"],
)
def test_given_a_job_that_cannot_run_when_applied_then_it_is_refused_naming_the_problem(aws, change, problem):
    prepared = prepare(aws, users=3, subscriber=None)

    status, body, _ = call(aws, "PUT", "/jobs/checked", change(prepared.document))

    assert status == 422
    assert [p for p in body["problems"] if p.startswith(problem)], body["problems"]
    with pytest.raises(NotFound):
        JobStore().get("checked")


def test_given_an_export_not_uploaded_yet_when_applied_then_the_job_is_accepted(aws):
    prepared = prepare(aws, users=3, subscriber=None)
    document = {**prepared.document, "job_id": "later", "source": {**prepared.document["source"], "key": "x.csv"}}

    status, body, _ = call(aws, "PUT", "/jobs/later", changed(document, title="{{ job_title }}") | {"job_id": "later"})

    assert (status, body) == (200, {"job_id": "later", "version": 1})
