"""What test_traces.py runs in a process of its own, traced as on Lambda: the local stack, one real run,
the links function serving a download link and a run page, the admin API answering a run page, a job
and a presigned log URL, and a handler failing with an address in its error. Prints (last line, JSON)
what was asked and answered, and every secret or address a trace must not hold.

Its own process because the Tracer is made once, at import, and decides then whether to trace (a
Lambda environment with a sampled trace id); the pytest process imports it with tracing off.
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import boto3
import httpx

from syncjobs.admin import operations
from syncjobs.links import DETAILS, sign
from syncjobs_local.demo import SUBSCRIBER, prepare, start, wait_for_run
from syncjobs_local.stack import LocalStack
from tests.e2e.helpers import wait_until

SCIM_TOKEN = "scim-bearer-" + uuid.uuid4().hex
API_BEARER = "api-bearer-" + uuid.uuid4().hex
FAILING_ADDRESS = "alice.failing@example.com"
AWS_ERROR_ADDRESS = "bob.refused@example.com"


def signature_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["X-Amz-Signature"][0]


def main() -> int:
    with tempfile.TemporaryDirectory() as workdir, LocalStack(Path(workdir), scim_token=SCIM_TOKEN) as stack:
        assert stack.resources is not None
        prepared = prepare(stack, users=5, bad_rows=False)
        run = wait_for_run(start(stack, prepared.job_id), stack=stack, timeout_s=120)
        # the run's page lists its notification decision, naming the subscriber
        wait_until(lambda: bool(operations.run_notifications(run.run_id)), "the run's notification decision")
        key = boto3.client("secretsmanager").get_secret_value(SecretId=stack.resources.name("LinkSigningKey"))
        expires = datetime.now(UTC) + timedelta(hours=1)
        log_token = sign(key["SecretString"].encode(), run.run_id, "created", expires)
        page_token = sign(key["SecretString"].encode(), run.run_id, DETAILS, expires)
        links = stack.function_urls["LinksFunction"].url
        api = stack.admin_api_url
        headers = {"Authorization": f"Bearer {API_BEARER}"}
        with httpx.Client(headers=headers, timeout=30) as http:
            download = http.get(links + log_token)
            link_page = http.get(links + page_token)
            api_page = http.get(f"{api}/runs/{run.run_id}", headers={"Accept": "text/html"})
            job = http.get(f"{api}/jobs/{prepared.job_id}")
            log_url = http.get(f"{api}/runs/{run.run_id}/logs/created")
        try:
            stack.invoke("StartRunFunction", {"job_id": FAILING_ADDRESS, "type": "read", "trigger": "cli"})
            failure = ""
        except Exception as err:
            failure = f"{type(err).__name__}: {err}"
        try:  # an AWS error whose message names an address (the patched SDK records AWS errors)
            boto3.client("sesv2").send_email(
                FromEmailAddress=AWS_ERROR_ADDRESS,
                Destination={"ToAddresses": [SUBSCRIBER]},
                Content={"Simple": {"Subject": {"Data": "s"}, "Body": {"Text": {"Data": "b"}}}},
            )
            aws_failure = ""
        except Exception as err:
            aws_failure = f"{type(err).__name__}: {err}"
        users = [str(row["email"]) for row in prepared.export.valid.values()]
        print(
            json.dumps(
                {
                    "run_status": run.status.value,
                    "answers": {
                        "download": [download.status_code, download.headers.get("location", "")],
                        "link_page": [link_page.status_code, link_page.text],
                        "api_page": [api_page.status_code, api_page.text],
                        "job": [job.status_code, job.text],
                        "log_url": [log_url.status_code, log_url.headers.get("location", "")],
                    },
                    "failure": failure,
                    "aws_failure": aws_failure,
                    "secrets": [
                        SCIM_TOKEN,
                        API_BEARER,
                        *(token.split(".")[1] for token in (log_token, page_token)),
                        signature_of(download.headers["location"]),
                        signature_of(log_url.headers["location"]),
                        *re.findall(r"[\w-]{20,}\.([\w-]{43})(?![\w-])", link_page.text),  # the page's signed links
                    ],
                    "addresses": [FAILING_ADDRESS, AWS_ERROR_ADDRESS, SUBSCRIBER, *users],
                }
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
