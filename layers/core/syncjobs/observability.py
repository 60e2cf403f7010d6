"""Powertools Logger, Tracer and Metrics, made once for every function of the process.

Traces hold no data: X-Ray keeps what it is sent for 30 days, readable by anyone with xray:Get*, so
nothing personal or secret may reach it. Only botocore is patched (its subsegments record what
aws_xray_sdk/ext/resources/aws_para_whitelist.json names: table, queue and bucket names, object
keys, counts; never items, message bodies or secret values); httpx is not (a SCIM URL carries
filters such as userName eq "alice@example.com", a link URL its token). A handler's subsegment holds
neither its response (presigned URLs, run pages with recipients and signed links, job definitions)
nor its error's message (messages name users and addresses): an error is recorded by its type and
the places in the code it passed through.
"""

from __future__ import annotations

import functools
import re
import traceback
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from syncjobs.engine.run_metrics import RunMetric

TRACED_MODULES = ("botocore",)

logger = Logger(service="syncjobs")
tracer = Tracer(service="syncjobs", patch_modules=TRACED_MODULES)
metrics = Metrics(namespace="syncjobs", service="syncjobs")

Handler = TypeVar("Handler", bound=Callable[..., Any])
_cold_start = True


def traced_handler(handler: Handler) -> Handler:
    """Trace an invocation as a `## <handler>` subsegment without content: no response, and an error
    recorded as its type and stack (file, line, function) with its message withheld. Powertools'
    capture_lambda_handler cannot do this: with capture_error=False it leaves out its own metadata,
    but the X-Ray SDK's subsegment context still records the exception's message."""
    name = f"## {handler.__name__}"

    @functools.wraps(handler)
    def traced(event: Any, context: Any) -> Any:
        global _cold_start
        if tracer.disabled:
            return handler(event, context)
        recorder: Any = tracer.provider  # the X-Ray SDK's recorder (BaseProvider declares no begin/end)
        subsegment = recorder.begin_subsegment(name)
        try:
            return handler(event, context)
        except Exception as err:
            if subsegment is not None:
                subsegment.add_exception(withheld(err), traceback.extract_tb(err.__traceback__))
            raise
        finally:
            if subsegment is not None:
                subsegment.put_annotation("ColdStart", _cold_start)
                subsegment.put_annotation("Service", tracer.service)
                recorder.end_subsegment()
            _cold_start = False

    return traced  # type: ignore[return-value]


def withheld(err: BaseException) -> Exception:
    """An exception of the same type name as `err` whose message says where to look instead."""
    kind: type[Exception] = type(type(err).__name__, (Exception,), {})
    return kind("message withheld from the trace (it may hold personal data); see the function's log")


_ADDRESS = re.compile(r"[^\s@<>()\"',;:]+@[^\s@<>()\"',;:]+")


def without_addresses(text: str) -> str:
    """Text for a log line with e-mail addresses (approvers, user names) replaced: logs hold no
    personal data unless an admin asks for content tracing."""
    return _ADDRESS.sub("<address>", text)


def emit(run_metrics: Iterable[RunMetric]) -> None:
    """Add a run's metrics to this invocation's EMF record (flushed by the handler's log_metrics)."""
    for metric in run_metrics:
        metrics.add_metric(name=metric.name, unit=MetricUnit(metric.unit), value=metric.value)
