"""links: a click on a mail's link -> a fresh presigned S3 URL (302), the run's page, an approval's
confirmation page (GET) and decision (POST), or why not (4xx).

Served by a Lambda function URL without auth: the token in the path is the authorisation (HMAC-signed,
expiring, naming one log of one run), so recipients need no AWS identity, as with a presigned URL.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import LambdaFunctionUrlResolver, Response
from aws_lambda_powertools.utilities.typing import LambdaContext

from syncjobs.links import LinkRefused
from syncjobs.observability import logger, metrics, traced_handler, without_addresses
from syncjobs.workflows.download_links import follow_link

app = LambdaFunctionUrlResolver()
_NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


@app.get("/<token>")
def follow(token: str) -> Response[str]:
    return _follow(token, "GET")


@app.post("/<token>")
def decide(token: str) -> Response[str]:
    """An approver's button on the page an approve/reject link opened."""
    return _follow(token, "POST")


def _follow(token: str, method: str) -> Response[str]:
    try:
        followed = follow_link(token, method=method)
    except LinkRefused as err:
        return _refused(err)
    if followed.page is not None:
        csp = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'"
        headers = {**_NO_STORE, "Content-Security-Policy": csp}
        return Response(followed.status, "text/html; charset=utf-8", followed.page, headers=headers)
    return Response(302, "text/plain; charset=utf-8", "", headers={**_NO_STORE, "Location": str(followed.redirect)})


@app.not_found
def not_a_link(_: Exception) -> Response[str]:
    """A path that is no token (a raw byte, a slash, a part too many): the same 403 as a changed token."""
    return _refused(LinkRefused("this link is not valid (malformed)", 403))


def _refused(err: LinkRefused) -> Response[str]:
    logger.info("link refused", extra={"status": err.status, "reason": without_addresses(err.reason)})
    return Response(err.status, "text/plain; charset=utf-8", err.reason + "\n", headers=_NO_STORE)


@logger.inject_lambda_context(clear_state=True)
@traced_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
