"""Download links: SigV4 query signing with the lifetime asked for, checked by recomputing the signature
from the signing credentials (moto accepts any signature and any expiry, so it proves nothing here)."""

from __future__ import annotations

import urllib.parse
from datetime import UTC, datetime

from botocore.auth import S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest

from syncjobs.store.objects import LogObjects


def test_a_download_link_is_sigv4_signed_for_its_lifetime_and_names_the_file(aws):
    # Given a log in the bucket
    logs = LogObjects()
    logs.put("runs/r1/logs/failed.csv", b"entity_type,entity_id\r\nusers,E1\r\n")

    # When a link is made for 2 hours (by the links function, which may read the logs it signs for)
    with aws.acting_as("LinksFunction"):
        url = logs.presign_download("runs/r1/logs/failed.csv", "job-r1-failed.csv", 7200)

    # Then it is a SigV4 query-signed GET with that lifetime, scoped to S3 in the region
    parts = urllib.parse.urlsplit(url)
    query = dict(urllib.parse.parse_qsl(parts.query))
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert query["X-Amz-Expires"] == "7200"
    assert query["X-Amz-Credential"].endswith("/us-east-1/s3/aws4_request")
    assert query["X-Amz-SignedHeaders"] == "host"
    assert query["response-content-disposition"] == 'attachment; filename="job-r1-failed.csv"'

    # And the signature is the one SigV4 gives for these credentials, this request and that time
    # (the signing client's own credentials: a client made earlier in this process keeps the ones it had)
    credentials = logs._s3._request_signer._credentials.get_frozen_credentials()
    unsigned = {k: v for k, v in query.items() if not k.startswith("X-Amz-")}
    request = AWSRequest(
        method="GET", url=f"{parts.scheme}://{parts.netloc}{parts.path}?{urllib.parse.urlencode(unsigned)}"
    )
    request.context["timestamp"] = query["X-Amz-Date"]
    signer = S3SigV4QueryAuth(credentials, "s3", "us-east-1", expires=7200)
    signer._get_date = lambda: query["X-Amz-Date"]  # type: ignore[method-assign]  # sign at the link's time
    signer.add_auth(request)
    resigned = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(request.url).query))
    assert resigned["X-Amz-Signature"] == query["X-Amz-Signature"]

    # And a tampered link (a longer lifetime) no longer matches its signature
    request = AWSRequest(
        method="GET", url=f"{parts.scheme}://{parts.netloc}{parts.path}?{urllib.parse.urlencode(unsigned)}"
    )
    longer = S3SigV4QueryAuth(credentials, "s3", "us-east-1", expires=604800)
    longer._get_date = lambda: query["X-Amz-Date"]  # type: ignore[method-assign]
    longer.add_auth(request)
    assert (
        dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(request.url).query))["X-Amz-Signature"]
        != (query["X-Amz-Signature"])
    )
    assert datetime.strptime(query["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC) <= datetime.now(UTC)
