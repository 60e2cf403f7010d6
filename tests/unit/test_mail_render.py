"""Mail rendering: names from jobs and systems cannot inject headers or markup; every part says its piece."""

import email
import email.policy
from datetime import UTC, datetime

import pytest

from syncjobs.models.job import NotificationSettings, SubscriptionTrigger
from syncjobs.models.notification import HeldMail
from syncjobs.models.run import FailureSample, Run, RunStatus, RunType
from syncjobs.notify.message import build
from syncjobs.notify.render import AllowLink, Link, render, render_run_page
from syncjobs.notify.rules import Change, MailKind, Transition, decide
from syncjobs.notify.words import plural
from syncjobs.store.notifications import NotificationRecord

HOSTILE = "HR <script>alert(1)</script>\r\nBcc: everyone@example.com"


def run(**changes) -> Run:
    values = {
        "run_id": "20261121T120000Z-abc",
        "job_id": "hr",
        "status": "finished_with_errors",
        "run_type": "read",
        "trigger": "schedule",
        "triggered_by": "eventbridge",
        "request_id": "r",
        "created_at": datetime(2026, 11, 21, 12, tzinfo=UTC),
        "started_at": datetime(2026, 11, 21, 12, tzinfo=UTC),
        "ended_at": datetime(2026, 11, 21, 12, 5, tzinfo=UTC),
        "counts": {
            "users": {"created": 3, "updated": 0, "deleted": 0, "skipped": 1, "failed": 2},
            "groups": {"created": 1, "updated": 0, "deleted": 0, "skipped": 0, "failed": 0},
        },
        "failures": [FailureSample(entity_type="users", entity_id="<b>E1</b>", reason="mapping failed")],
        "job_name": HOSTILE,
        "source_name": HOSTILE,
        "target_name": "App",
        "deletes_held": 7,
    }
    return Run.model_validate({**values, **changes})


def test_a_hostile_job_name_injects_neither_headers_nor_markup():
    mail = render(MailKind.FINISHED_WITH_ERROR, run(), [], None, "2026-11-28 12:00 UTC", why="failed run 1")
    raw = build("syncjobs@example.com", "ops@example.com", mail, "r.finished")
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert message["Bcc"] is None
    assert "\n" not in str(message["Subject"])
    assert str(message["Subject"]).startswith("[syncjobs] HR <script>alert(1)</script> Bcc: everyone@example.com (HR")
    assert str(message["Subject"]).endswith("→ App): Finished with Error")
    html = message.get_body(preferencelist=("html",)).get_content()
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert "&lt;b&gt;E1&lt;/b&gt;" in html


def test_the_text_part_has_counts_per_type_links_held_mails_and_why():
    links = [Link("failed", 2, "https://links.example/abc", "hr-r-failed.csv")]
    held = [
        HeldMail(
            "r0#finished_with_error",
            "20261120T120000Z-def",
            "finished_with_error",
            "failed",
            "2026-11-20T12:00:00+00:00",
        )
    ]
    mail = render(
        MailKind.DELETES_HELD,
        run(),
        links,
        "https://links.example/details",
        "2026-11-28 12:00 UTC",
        why="the delete threshold held 7 delete(s) back",
        held=held,
    )
    text = mail.text
    assert mail.subject.endswith(": Deletes Held Back")
    assert "The delete threshold held 7 deletes back" in text
    assert "created   4  (users 3, groups 1)" in text
    assert "failed: Download error logs (2)\n    https://links.example/abc" in text
    assert "links valid until 2026-11-28 12:00 UTC" in text
    assert "2026-11-20 12:00 UTC  Provisioning Finished with Error (run 20261120T120000Z-def, Failed)" in text
    assert "Why you got this mail: the delete threshold held 7 delete(s) back." in text
    assert "Run details: https://links.example/details" in text


def test_the_deletes_held_back_mail_carries_the_allow_link_when_there_is_one():
    # Given a run whose threshold held 7 deletes, with and without a pending request to allow them
    allow = AllowLink("https://links.example/allow-token", "apr-20261120T120000Z-abc", "2026-11-23 12:00 UTC")
    with_link = render(MailKind.DELETES_HELD, run(), [], None, "2026-11-28 12:00 UTC", allow=allow)
    without = render(MailKind.DELETES_HELD, run(), [], None, "2026-11-28 12:00 UTC")
    # Then the mail with a request links to it (text and HTML), names the CLI command and the expiry
    assert "  Allow 7 deletes: https://links.example/allow-token\n" in with_link.text
    assert "or: syncjobs approvals approve apr-20261120T120000Z-abc" in with_link.text
    assert "The request expires 2026-11-23 12:00 UTC." in with_link.text
    assert 'href="https://links.example/allow-token"' in with_link.html
    # And the one without says how else to let them through
    assert "allow-token" not in without.text
    assert "raise the threshold to let them through" in without.text


def test_the_run_page_escapes_names_and_lists_the_decisions():
    notes = [NotificationRecord("finished_with_error", "ops@example.com", "sent", "failed run 1 <x>", "t")]
    page = render_run_page(run(), notes, {"failed": "tok"}, "2026-11-28 12:00 UTC")
    assert "<script>" not in page
    assert "failed run 1 &lt;x&gt;" in page
    assert 'href="tok"' in page
    assert "<td>3</td>" in page


def test_the_run_page_of_a_validate_run_shows_valid_and_invalid_not_skipped_and_failed():
    # Given a validate run that found 1 valid and 2 invalid users
    validate = run(run_type="validate")
    # When its page is rendered
    page = render_run_page(validate, [], {"skipped": "tok-s", "failed": "tok-f"}, None)
    # Then its counts are headed valid and invalid, per entity type, and its logs named so
    assert "<th>Valid</th><th>Invalid</th>" in page
    assert "<th>Users</th><td>1</td><td>2</td>" in page
    assert "<th>Skipped</th>" not in page
    assert "<th>Created</th>" not in page
    assert "Download valid entities logs" in page
    assert "Download invalid entities logs" in page
    # And a read run's page still shows every outcome
    assert "<th>Created</th><th>Updated</th><th>Deleted</th><th>Skipped</th><th>Failed</th>" in render_run_page(
        run(), [], {}, None
    )


@pytest.mark.parametrize(
    ("count", "word", "expected"),
    [
        (0, "delete", "0 deletes"),
        (1, "delete", "1 delete"),
        (2, "failed entity", "2 failed entities"),
        (1, "failed entity", "1 failed entity"),
        (3, "record", "3 records"),
        (1, "failed run", "1 failed run"),
    ],
)
def test_counted_nouns_are_written_as_a_person_writes_them(count, word, expected):
    many = "failed entities" if word == "failed entity" else None
    assert plural(count, word, many) == expected


def test_the_errors_trigger_counts_failed_entities_in_words():
    t = Transition(Change.FINISHED, RunType.READ, RunStatus.FINISHED_WITH_ERRORS, failed_entities=1)
    (decision,) = decide(NotificationSettings(), SubscriptionTrigger.ERRORS, t)
    assert decision.reason == "trigger errors: 1 failed entity"


def test_a_subject_cuts_long_names_never_what_happened():
    # Given a job and a source whose names are as long as a job definition allows
    long_run = run(status="stopped", job_name="J" * 200, source_name="S" * 200, stop_requested_by="alice@example.com")
    # When its mail is rendered, Then the subject keeps to 300 characters and still says who stopped it
    mail = render(MailKind.FINISHED_WITH_ERROR, long_run, [], None, "2026-11-28 12:00 UTC")
    assert len(mail.subject) <= 300
    assert mail.subject.startswith("[syncjobs] JJJ")
    assert mail.subject.endswith(": Stopped by alice@example.com")


def test_the_run_page_says_who_stopped_a_stopped_run():
    stopped = run(
        status="stopped",
        stop_requested_by="alice@example.com",
        stop_requested_at=datetime(2026, 11, 21, 12, 3, tzinfo=UTC),
    )
    page = render_run_page(stopped, [], {}, None)
    assert "<tr><th>Stopped by</th><td>alice@example.com at 2026-11-21 12:03:00 UTC</td></tr>" in page
    assert "Stopped by" not in render_run_page(run(), [], {}, None)
