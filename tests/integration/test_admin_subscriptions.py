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
