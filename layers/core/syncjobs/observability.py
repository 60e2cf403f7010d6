"""Powertools Logger, Tracer and Metrics, made once for every function of the process."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger(service="syncjobs")
tracer = Tracer(service="syncjobs")
metrics = Metrics(namespace="syncjobs", service="syncjobs")
