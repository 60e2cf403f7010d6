"""Powertools Logger, Tracer and Metrics, made once for every function of the process."""

from __future__ import annotations

import re

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger(service="syncjobs")
tracer = Tracer(service="syncjobs")
metrics = Metrics(namespace="syncjobs", service="syncjobs")


_ADDRESS = re.compile(r"[^\s@<>()\"',;:]+@[^\s@<>()\"',;:]+")


def without_addresses(text: str) -> str:
    """Text for a log line with e-mail addresses (approvers, user names) replaced: logs hold no
    personal data unless an admin asks for content tracing."""
    return _ADDRESS.sub("<address>", text)
