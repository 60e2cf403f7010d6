"""A mail's unsubscribe link through the links function: GET asks, POST (a mail client's RFC 8058
one-click, or the page's button) removes that subscriber from that job, and nothing else does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3

from syncjobs.admin import operations
from syncjobs.links import UNSUBSCRIBE, sign
from syncjobs_local.demo import prepare
from syncjobs_local.function_urls import url_event

ONE_CLICK = b"List-Unsubscribe=One-Click"


def follow(aws, method: str, token: str, body: bytes = b"") -> dict:
    headers = {"Content-Type": "application/x-www-form-urlencoded"} if body else {}
    return aws.invoke("LinksFunction", url_event(method, f"/{token}", headers, body, "links.local"))


def token_for(aws, job_id: str, email: str | None, expires_at: datetime) -> str:
    secret = boto3.client("secretsmanager").get_secret_value(SecretId=aws.resources.name("LinkSigningKey"))
    return sign(secret["SecretString"].encode(), job_id, UNSUBSCRIBE, expires_at, email)


def subscribers(job_id: str) -> set[str]:
    return {str(s.email) for s in operations.subscribers(job_id)}


def test_an_unsubscribe_link_asks_on_get_and_unsubscribes_its_subscriber_on_post(aws):
    # Given a job with two subscribers, and the unsubscribe link of one of them
    job_id = prepare(aws, users=3, subscriber="ada@example.com").job_id
    operations.subscribe(job_id, "ops@example.com")
    token = token_for(aws, job_id, "ada@example.com", datetime.now(UTC) + timedelta(days=365))

    # When the link is opened (a person, or a mail scanner), Then it asks and unsubscribes nobody
    opened = follow(aws, "GET", token)
    assert opened["statusCode"] == 200
    assert "Unsubscribe?" in opened["body"]
    assert "ada@example.com" in opened["body"]
    assert subscribers(job_id) == {"ada@example.com", "ops@example.com"}

    # When a mail client POSTs the one-click body, Then that subscriber alone is unsubscribed
    done = follow(aws, "POST", token, ONE_CLICK)
    assert done["statusCode"] == 200
    assert "gets no more mails about job" in done["body"]
    assert subscribers(job_id) == {"ops@example.com"}

    # And a second POST (a button clicked twice) says the same
    assert follow(aws, "POST", token)["statusCode"] == 200
    assert subscribers(job_id) == {"ops@example.com"}


def test_an_expired_or_anonymous_unsubscribe_link_unsubscribes_nobody(aws):
    # Given a subscriber, a link of theirs that has expired and one that names no subscriber
    job_id = prepare(aws, users=3, subscriber="ada@example.com").job_id
    expired = token_for(aws, job_id, "ada@example.com", datetime.now(UTC) - timedelta(minutes=1))
    anonymous = token_for(aws, job_id, None, datetime.now(UTC) + timedelta(days=1))

    # When either is POSTed, Then it is refused, saying why, and the subscription stays
    gone = follow(aws, "POST", expired, ONE_CLICK)
    assert gone["statusCode"] == 410
    assert "expired at" in gone["body"]
    assert follow(aws, "POST", anonymous, ONE_CLICK)["statusCode"] == 403
    assert subscribers(job_id) == {"ada@example.com"}
