"""Powertools Logger, Tracer and Metrics, made once for every function of the process.

Traces hold no data: X-Ray keeps what it is sent for 30 days, readable by anyone with xray:Get*, so
nothing personal or secret may reach it. Only botocore is patched (its subsegments record what
aws_xray_sdk/ext/resources/aws_para_whitelist.json names: table, queue and bucket names, object
keys, counts; never items, message bodies or secret values); httpx is not (a SCIM URL carries
filters such as userName eq "alice@example.com", a link URL its token). A handler's subsegment holds
neither its response (presigned URLs, run pages with recipients and signed links, job definitions)
nor its error's message: every exception in a trace (a handler's, or an AWS error such as SES naming
the addresses it refused) is sent with its type and stack but its message withheld.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_xray_sdk.core.emitters.udp_emitter import PROTOCOL_DELIMITER, PROTOCOL_HEADER, UDPEmitter

from syncjobs.engine.run_metrics import RunMetric

TRACED_MODULES = ("botocore",)
WITHHELD = "message withheld from the trace (it may hold personal data); see the function's log"

logger = Logger(service="syncjobs")
tracer = Tracer(service="syncjobs", patch_modules=TRACED_MODULES)
metrics = Metrics(namespace="syncjobs", service="syncjobs")

# capture_error=False leaves out Powertools' own copy of the error; the X-Ray SDK still records the
# exception (message included) on the subsegment, which the emitter below withholds.
traced_handler = tracer.capture_lambda_handler(capture_response=False, capture_error=False)


def without_messages(document: Any) -> Any:
    """A trace entity (as X-Ray's JSON) with the message of every exception it or its subsegments
    record replaced by WITHHELD; types, stacks (file, line, function) and all else kept."""
    if isinstance(document, list):
        return [without_messages(item) for item in document]
    if not isinstance(document, dict):
        return document
    out = {key: without_messages(value) for key, value in document.items()}
    cause = out.get("cause")
    if isinstance(cause, dict) and isinstance(cause.get("exceptions"), list):
        cause["exceptions"] = [{**e, "message": WITHHELD} if "message" in e else e for e in cause["exceptions"]]
    return out


class WithholdingEmitter(UDPEmitter):  # type: ignore[misc]
    """X-Ray's UDP emitter (to the daemon at AWS_XRAY_DAEMON_ADDRESS), sending each entity through
    without_messages."""

    def send_entity(self, entity: Any) -> None:
        try:
            document = without_messages(json.loads(entity.serialize()))
            self._send_data(f"{PROTOCOL_HEADER}{PROTOCOL_DELIMITER}{json.dumps(document)}")
        except Exception:  # as UDPEmitter does: a trace is never worth failing an invocation for
            logger.warning("a trace entity was not sent", exc_info=True)


if not tracer.disabled:
    tracer.provider.configure(emitter=WithholdingEmitter())  # type: ignore[attr-defined]


_ADDRESS = re.compile(r"[^\s@<>()\"',;:]+@[^\s@<>()\"',;:]+")


def without_addresses(text: str) -> str:
    """Text for a log line with e-mail addresses (approvers, user names) replaced: logs hold no
    personal data unless an admin asks for content tracing."""
    return _ADDRESS.sub("<address>", text)


def emit(run_metrics: Iterable[RunMetric]) -> None:
    """Add a run's metrics to this invocation's EMF record (flushed by the handler's log_metrics)."""
    for metric in run_metrics:
        metrics.add_metric(name=metric.name, unit=MetricUnit(metric.unit), value=metric.value)
