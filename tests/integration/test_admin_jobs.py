"""Jobs through the admin API handler: list, show, delete (refused while a run is active), log downloads."""

import json
import urllib.parse

import boto3

from syncjobs.models.events import StartEvent
from syncjobs.store.objects import LogObjects
from syncjobs.store.runs import RunStore
from syncjobs.workflows.start_run import start_run
from syncjobs_local.demo import prepare
from syncjobs_local.lambda_events import api_event


def call(aws, method, path, body=None):
    answer = aws.invoke("AdminApiFunction", api_event(method, path, body))
    return answer["statusCode"], (json.loads(answer["body"]) if answer["body"] else None), answer


def test_jobs_are_listed_shown_and_deleted(aws):
    job_id = prepare(aws, users=3).job_id
    call(aws, "PUT", f"/jobs/{job_id}/schedule", {"expression": "cron(0 6 ? * MON-FRI *)"})

    status, listed, _ = call(aws, "GET", "/jobs")
    assert status == 200
    (job,) = listed["jobs"]
    assert (job["job_id"], job["version"], job["schedule"], job["active_run"]) == (
        job_id,
        1,
        "cron(0 6 ? * MON-FRI *)",
        None,
    )
    assert job["source"].startswith("s3://")

    status, shown, _ = call(aws, "GET", f"/jobs/{job_id}")
    assert status == 200
    assert shown["definition"]["mapping"]["users"]["userName"] == "{{ email | trim | lower }}"
    assert [s["email"] for s in shown["subscribers"]] == ["it-admins@example.com"]

    assert call(aws, "DELETE", f"/jobs/{job_id}")[:2] == (200, {"job_id": job_id, "deleted": True})
    assert call(aws, "GET", f"/jobs/{job_id}")[0] == 404
    assert call(aws, "GET", "/jobs")[1] == {"jobs": []}
    assert call(aws, "GET", f"/jobs/{job_id}/schedule")[0] == 404


def test_a_job_with_an_active_run_is_not_deleted(aws):
    job_id = prepare(aws, users=3).job_id
    with aws.acting_as("StartRunFunction"):
        run = start_run(StartEvent(job_id=job_id, trigger="api", request_id="r1").job_request())  # queued shards
    status, body, _ = call(aws, "DELETE", f"/jobs/{job_id}")
    assert status == 409
    assert f"active run {run.run_id}" in body["message"]
    assert call(aws, "GET", f"/jobs/{job_id}")[0] == 200


def test_a_log_is_downloaded_through_a_short_presigned_redirect(aws):
    job_id = prepare(aws, users=3).job_id
    with aws.acting_as("StartRunFunction"):
        run = start_run(StartEvent(job_id=job_id, trigger="api", request_id="r2").job_request())
    # Given a run that has a failed log (written here directly; the engine writes the same key)
    key = f"runs/{run.run_id}/logs/failed.csv"
    with aws.acting_as("RunShardFunction"):
        LogObjects().put(key, b"entity_type,entity_id\r\nusers,E1\r\n")
    table = aws.resources.name("JobsTable")
    boto3.client("dynamodb").update_item(
        TableName=table,
        Key={"pk": {"S": f"RUN#{run.run_id}"}, "sk": {"S": "RUN"}},
        UpdateExpression="SET log_keys = :k",
        ExpressionAttributeValues={":k": {"M": {"failed": {"S": key}}}},
    )
    assert RunStore().get(run.run_id).run.log_keys == {"failed": key}

    status, _, answer = call(aws, "GET", f"/runs/{run.run_id}/logs/failed")
    assert status == 302
    location = answer["multiValueHeaders"]["Location"][0]
    query = urllib.parse.parse_qs(urllib.parse.urlparse(location).query)
    assert query["X-Amz-Expires"] == ["300"]
    body, headers = aws.fetch(location)
    assert body == b"entity_type,entity_id\r\nusers,E1\r\n"
    assert headers["Content-Disposition"] == f'attachment; filename="{job_id}-{run.run_id}-failed.csv"'

    status, body, _ = call(aws, "GET", f"/runs/{run.run_id}/logs/created")
    assert status == 404
    assert "its logs: failed" in body["message"]
