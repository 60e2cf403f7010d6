"""Subscriptions through the admin API handler: subscribe a person or a list with a trigger, list, unsubscribe."""

import json

from syncjobs_local.demo import prepare
from syncjobs_local.lambda_events import api_event


def call(aws, method, path, body=None):
    answer = aws.invoke("AdminApiFunction", api_event(method, path, body))
    return answer["statusCode"], json.loads(answer["body"])


def test_subscribe_list_and_unsubscribe_with_triggers(aws):
    job_id = prepare(aws, users=3, subscriber=None).job_id

    # When an admin subscribes a distribution list with a Netwrix trigger, and a person on the default policy
    status, body = call(aws, "PUT", f"/jobs/{job_id}/subscribers/hr-team%40example.com", {"trigger": "errors"})
    assert (status, body["trigger"]) == (200, "errors")
    assert call(aws, "PUT", f"/jobs/{job_id}/subscribers/ada@example.com")[0] == 200

    # Then both are listed with their triggers
    status, body = call(aws, "GET", f"/jobs/{job_id}/subscribers")
    assert status == 200
    assert {(s["email"], s["trigger"]) for s in body["subscribers"]} == {
        ("hr-team@example.com", "errors"),
        ("ada@example.com", "default"),
    }

    # And subscribing again changes the trigger; unsubscribing removes one
    call(aws, "PUT", f"/jobs/{job_id}/subscribers/ada@example.com", {"trigger": "always"})
    assert call(aws, "DELETE", f"/jobs/{job_id}/subscribers/hr-team%40example.com")[0] == 200
    _, body = call(aws, "GET", f"/jobs/{job_id}/subscribers")
    assert [(s["email"], s["trigger"]) for s in body["subscribers"]] == [("ada@example.com", "always")]


def test_bad_subscriptions_are_refused_naming_the_field(aws):
    job_id = prepare(aws, users=3, subscriber=None).job_id
    status, body = call(aws, "PUT", f"/jobs/{job_id}/subscribers/not-an-address")
    assert status == 422
    assert any(p.startswith("email: ") for p in body["problems"])
    status, body = call(aws, "PUT", f"/jobs/{job_id}/subscribers/ada@example.com", {"trigger": "sometimes"})
    assert status == 422
    assert any(p.startswith("trigger: ") for p in body["problems"])
    status, body = call(aws, "GET", "/jobs/no-such-job/subscribers")
    assert status == 404
    assert "no-such-job" in body["message"]


def test_a_run_requested_through_the_api_starts_through_lambda_once_per_idempotency_key(aws):
    # Given a job, when an admin asks for a resync twice with the same Idempotency-Key
    job_id = prepare(aws, users=3, subscriber=None).job_id
    event = api_event("POST", f"/jobs/{job_id}/runs", {"type": "resync"})
    event["headers"]["Idempotency-Key"] = "retry-1"
    first = aws.invoke("AdminApiFunction", event)
    second = aws.invoke("AdminApiFunction", event)

    # Then both answers name one run, which start_run (invoked through the Lambda API) created
    assert first["statusCode"] == 202
    run_id = json.loads(first["body"])["run_id"]
    aws.lambda_api.drain()
    assert json.loads(second["body"])["run_id"] == run_id
    status, run = call(aws, "GET", f"/runs/{run_id}")
    assert status == 200
    assert (run["run_type"], run["trigger"], run["triggered_by"]) == (
        "resync",
        "api",
        "arn:aws:iam::123456789012:user/admin",
    )
    assert len(call(aws, "GET", f"/jobs/{job_id}/runs")[1]["runs"]) == 1
    assert aws.poller_errors() == []

    # And a bad run type or an unknown job gets a 4xx that says what is wrong
    status, body = call(aws, "POST", f"/jobs/{job_id}/runs", {"type": "reread"})
    assert status == 422
    assert any(p.startswith("type: ") for p in body["problems"])
    status, body = call(aws, "POST", "/jobs/nope/runs", {"type": "read"})
    assert status == 404
