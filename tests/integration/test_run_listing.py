"""GET /jobs/{job_id}/runs through the admin API handler: filters by status and creation time, pages
with a token, and refuses a bad filter naming it (never a 500)."""

import json
import urllib.parse

import pytest

from syncjobs.models.events import StartEvent
from syncjobs.workflows.start_run import start_run
from syncjobs_local.demo import prepare
from syncjobs_local.lambda_events import api_event


def listed(aws, job_id, **query):
    target = f"/jobs/{job_id}/runs" + (f"?{urllib.parse.urlencode(query)}" if query else "")
    answer = aws.invoke("AdminApiFunction", api_event("GET", target))
    return answer["statusCode"], json.loads(answer["body"])


def test_a_jobs_runs_are_filtered_and_paged(aws):
    # Given a job with two runs (queued: no pollers here)
    job_id = prepare(aws, users=2, subscriber=None).job_id
    with aws.acting_as("StartRunFunction"):
        older = start_run(StartEvent(job_id=job_id, trigger="api", request_id="r1").job_request())
        newer = start_run(StartEvent(job_id=job_id, trigger="api", request_id="r2").job_request())

    # Then one page holds both, newest first, and says it is the last
    status, body = listed(aws, job_id)
    assert status == 200
    assert ([r["run_id"] for r in body["runs"]], body["next_token"]) == ([newer.run_id, older.run_id], None)

    # A page of one hands out a token that resumes after it
    _, first = listed(aws, job_id, limit=1)
    _, second = listed(aws, job_id, limit=1, next_token=first["next_token"])
    assert [r["run_id"] for r in first["runs"] + second["runs"]] == [newer.run_id, older.run_id]

    # Filters: status, and creation time (inclusive; any zone)
    assert listed(aws, job_id, status="failed")[1]["runs"] == []
    assert len(listed(aws, job_id, status=newer.status.value)[1]["runs"]) >= 1
    since = newer.created_at.astimezone().isoformat()
    assert [r["run_id"] for r in listed(aws, job_id, since=since)[1]["runs"]] == [newer.run_id]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"status": "maybe"}, "status: must be one of"),
        ({"since": "2026-01-31T08:00:00"}, "since: give a time with its zone"),
        ({"since": "0001-01-01T00:00:00+05:00"}, "since: give a time with its zone"),
        ({"since": "yesterday"}, "since"),
        ({"next_token": "bm90LWEtdG9rZW4"}, "next_token: not a token this listing handed out"),
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
    ],
)
def test_a_bad_filter_is_refused_naming_it(aws, query, field):
    job_id = prepare(aws, users=1, subscriber=None).job_id
    status, body = listed(aws, job_id, **query)
    assert status == 422, body
    assert any(problem.startswith(field) for problem in body["problems"]), body
