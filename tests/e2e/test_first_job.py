"""End to end on the local stack: a 1,000-user CSV in S3 into scim2-server through the pollers, the
outcome logs in S3, and one mail whose links download those logs over HTTP."""

import email
import email.policy
import json
import urllib.parse
from datetime import UTC, datetime, timedelta

import boto3
import httpx
import pytest

from syncjobs.admin import operations
from syncjobs.links import sign
from syncjobs.models.outcome import Outcome
from syncjobs.models.run import RunStatus
from syncjobs_local.demo import mail_links, prepare, start, wait_for_mail, wait_for_run
from tests.e2e.helpers import log_rows, scim_users

pytestmark = pytest.mark.e2e


def test_a_1000_user_csv_job_provisions_logs_and_mails(stack):
    # Given a 1,000-user export with five bad rows, a job and a subscriber
    prepared = prepare(stack, users=1000)
    job_id, export = prepared.job_id, prepared.export

    # When the job runs through start_run, the shard queue and the stream
    run = wait_for_run(start(stack, job_id), timeout_s=300, stack=stack)

    # Then every valid user is in the target with its mapped attributes
    assert run.status is RunStatus.FINISHED_WITH_ERRORS
    users = scim_users(stack)
    assert set(users) == set(export.valid)
    for employee_id, row in export.valid.items():
        user = users[employee_id]
        assert user["userName"] == row["email"]
        assert user["name"] == {"givenName": row["first_name"], "familyName": row["last_name"]}
        assert user["displayName"] == f"{row['first_name']} {row['last_name']}"
        assert user["title"] == row["title"]
        assert user["active"] is (row["status"] == "active")
        assert user["emails"] == [{"value": row["email"], "type": "work", "primary": True}]

    # And each bad row is a failed entity with its reason
    failed = {int(r["row"]): r["reason"] for r in log_rows(stack, run.log_keys["failed"])}
    assert set(failed) == set(export.bad_rows)
    expected = {
        "missing id": "missing id",
        "empty userName": "userName: is required",
        "wrong field count": "row has 4 fields",
        "invalid UTF-8": "not valid UTF-8",
        "huge row": "more than max_row_bytes",
    }
    for row_number, why in export.bad_rows.items():
        assert expected[why] in failed[row_number]

    # And the run's per-outcome counts equal the lines of the logs in S3
    totals = run.totals()
    assert totals[Outcome.CREATED] == 1000
    assert totals[Outcome.FAILED] == 5
    for outcome, count in totals.items():
        if count:
            assert len(log_rows(stack, run.log_keys[outcome.value])) == count, outcome
        else:
            assert outcome.value not in run.log_keys

    # And one mail is in the outbox, whose links download those logs over HTTP
    mails = wait_for_mail(stack, 1)
    message = email.message_from_bytes(mails[0].read_bytes(), policy=email.policy.default)
    assert message["To"] == "it-admins@example.com"
    # its subject names the job and the export's file beside the target; its From has a display name
    file_name = prepared.key.rsplit("/", 1)[-1]
    assert message["Subject"] == f"[syncjobs] {run.job_name} ({file_name} → {run.target_name}): Finished with Error"
    assert message["From"].addresses[0].display_name == "syncjobs"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    links = mail_links(mails[0])
    assert set(links) == {o.value for o, n in totals.items() if n}
    s3 = boto3.client("s3")
    for outcome, url in links.items():
        # a mail link leads to the links function, which redirects to a log presigned for 5 minutes
        assert url.startswith(stack.function_urls["LinksFunction"].url)
        redirect = httpx.get(url)
        assert redirect.status_code == 302
        assert redirect.headers["Cache-Control"] == "no-store"
        signed = redirect.headers["Location"]
        assert urllib.parse.parse_qs(urllib.parse.urlparse(signed).query)["X-Amz-Expires"] == ["300"]
        body, headers = stack.fetch(signed)
        key = run.log_keys[outcome]
        assert body == s3.get_object(Bucket=stack.resources.name("LogBucket"), Key=key)["Body"].read()
        assert headers["Content-Disposition"] == f'attachment; filename="{job_id}-{run.run_id}-{outcome}.csv"'
    # the mail says how long its links work: the link lifetime (7 days) within the log retention (7 days)
    text = message.get_body(preferencelist=("plain",)).get_content()
    assert "links valid until" in text
    # a changed link is refused
    changed = links["failed"][:-3] + ("AAA" if not links["failed"].endswith("AAA") else "BBB")
    refused = httpx.get(changed)
    assert refused.status_code == 403
    assert "not valid" in refused.text
    # a link past its expiry is refused, saying when it expired
    key = boto3.client("secretsmanager").get_secret_value(SecretId=stack.resources.name("LinkSigningKey"))
    past = datetime.now(UTC) - timedelta(minutes=1)
    expired = httpx.get(
        stack.function_urls["LinksFunction"].url + sign(key["SecretString"].encode(), run.run_id, Outcome.FAILED, past)
    )
    assert expired.status_code == 410
    assert "expired at" in expired.text

    # And the mail's details link opens the run's page: execution details, counts, decisions, log links
    details = next(line.split(": ", 1)[1] for line in text.splitlines() if line.startswith("Run details: "))
    page = httpx.get(details)
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert run.run_id in page.text
    assert "Finished with Error" in page.text
    assert "<td>1000</td>" in page.text
    assert "it-admins@example.com" in page.text
    assert "first failed run of the streak" in page.text or "failed run 1 of the streak" in page.text
    relative = page.text.split('href="', 2)[1].split('"', 1)[0]
    from_page = httpx.get(urllib.parse.urljoin(details, relative))
    assert from_page.status_code == 302
    assert stack.poller_errors() == []

    # And stream records delivered again (three times each) send no further mail
    stack.replay_streams(times=3)
    assert stack.outbox.tick() is False
    assert len(stack.outbox.written) == 1
    sent = json.loads(stack.http_get(f"{stack.moto_url}/moto-api/data.json"))["ses"]["RawMessage"]
    assert len(sent) == 1

    # And the mail's List-Unsubscribe link asks on GET and unsubscribes on a one-click POST (RFC 8058)
    unsubscribe = str(message["List-Unsubscribe"]).strip("<>")
    assert unsubscribe.startswith(stack.function_urls["LinksFunction"].url)
    assert f"Unsubscribe: {unsubscribe}" in text
    asked = httpx.get(unsubscribe)
    assert asked.status_code == 200
    assert "Unsubscribe?" in asked.text
    assert [str(s.email) for s in operations.subscribers(job_id)] == ["it-admins@example.com"]
    done = httpx.post(
        unsubscribe,
        content="List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert done.status_code == 200
    assert "gets no more mails about job" in done.text
    assert operations.subscribers(job_id) == []
    # a changed link unsubscribes nobody
    assert httpx.post(unsubscribe[:-3] + ("AAA" if not unsubscribe.endswith("AAA") else "BBB")).status_code == 403
