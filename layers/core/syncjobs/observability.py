"""Powertools Logger, Tracer and Metrics, made once for every function of the process."""

from __future__ import annotations

import re
from collections.abc import Iterable

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from syncjobs.engine.run_metrics import RunMetric

logger = Logger(service="syncjobs")
tracer = Tracer(service="syncjobs")
metrics = Metrics(namespace="syncjobs", service="syncjobs")


_ADDRESS = re.compile(r"[^\s@<>()\"',;:]+@[^\s@<>()\"',;:]+")


def without_addresses(text: str) -> str:
    """Text for a log line with e-mail addresses (approvers, user names) replaced: logs hold no
    personal data unless an admin asks for content tracing."""
    return _ADDRESS.sub("<address>", text)


def emit(run_metrics: Iterable[RunMetric]) -> None:
    """Add a run's metrics to this invocation's EMF record (flushed by the handler's log_metrics)."""
    for metric in run_metrics:
        metrics.add_metric(name=metric.name, unit=MetricUnit(metric.unit), value=metric.value)
