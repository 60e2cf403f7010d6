"""The whole local stack in one process: moto server, template resources, scim2-server, pollers."""

from __future__ import annotations

import contextlib
import functools
import importlib
import logging
import os
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from email.message import Message
from pathlib import Path
from types import TracebackType
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

from syncjobs import settings as syncjobs_settings
from syncjobs.deadline import recording_times
from syncjobs.store import clients as store_clients
from syncjobs.store import secrets as store_secrets
from syncjobs_local import function_logs
from syncjobs_local.async_invoke import AsyncConfig, AsyncInvoker
from syncjobs_local.cfn import load_template
from syncjobs_local.function_urls import FunctionUrlServer, rest_event
from syncjobs_local.iam import LocalIam, acting, acting_as, as_function
from syncjobs_local.invocations import InvocationLog, run_with_timeout
from syncjobs_local.lambda_api import LambdaApiServer
from syncjobs_local.lambda_events import FilterCriteria, LambdaContext, stream_record
from syncjobs_local.moto_fixes import serialise_dynamodb_writes
from syncjobs_local.pollers import ListeningTurn, Outbox, Scheduler, SqsPoller, StreamPoller
from syncjobs_local.provision import TEMPLATE, Provisioned, provision
from syncjobs_local.scim_target import ScimServer

REGION = "us-east-1"
LOCAL_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": os.environ.get("POWERTOOLS_LOG_LEVEL", "WARNING"),
    "LOOPBACK_HTTP": "allowed",  # its SCIM server listens on plain http on loopback (never set on AWS)
}


class LocalStack:
    def __init__(
        self,
        workdir: Path,
        template: Path = TEMPLATE,
        shard_workers: int = 2,
        scim_token: str | None = None,
        start_scheduler: bool = True,
        pollers: bool = True,
        async_retry_delay_s: float = 1.0,
    ) -> None:
        """`async_retry_delay_s`: the wait before an asynchronous invocation's first retry (twice that
        before the second); Lambda waits about a minute."""
        self.workdir = workdir
        self.template = template
        self.shard_workers = self._default_workers = shard_workers
        self.scim_token = scim_token
        self.start_scheduler = start_scheduler
        self.with_pollers = pollers
        self._moto: ThreadedMotoServer | None = None
        self.scim: ScimServer | None = None
        self.resources: Provisioned | None = None
        self.outbox: Outbox | None = None
        self.scheduler: Scheduler | None = None
        self._pollers: list[Any] = []
        self._handlers: dict[str, Any] = {}
        self.function_urls: dict[str, FunctionUrlServer] = {}
        self._async_retry_delay_s = async_retry_delay_s
        self.async_invoker = AsyncInvoker(
            self.invoke, self._async_configs, self.function_arn, self._logical_id_of, async_retry_delay_s
        )
        self.lambda_api = LambdaApiServer(self.invoker, self.event_target)
        self._lock = threading.Lock()
        self.invocations = InvocationLog()  # invocations killed by their Timeout
        # what handlers' contexts count their remaining time by (a test may simulate time: fault suite)
        self.clock: Callable[[], float] = time.monotonic
        self._timeouts: dict[str, float] = {}  # per function: a test's scaled-down Timeout
        self.iam = LocalIam()  # each function's calls checked against its role (syncjobs_local/iam.py)

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def moto_url(self) -> str:
        assert self._moto is not None
        host, port = self._moto.get_host_and_port()
        return f"http://{host}:{port}"

    def start(self) -> LocalStack:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's per-request access log
        serialise_dynamodb_writes()
        function_logs.install()  # each handler's log lines with its own invocation's context
        self._moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._moto.start()
        os.environ.update(LOCAL_ENVIRONMENT)
        if self.iam.install not in store_clients.client_hooks:
            store_clients.client_hooks.append(self.iam.install)
        store_secrets.scope = acting  # one secrets cache per function, as on Lambda
        os.environ["AWS_ENDPOINT_URL"] = self.moto_url
        os.environ["AWS_ENDPOINT_URL_LAMBDA"] = self.lambda_api.start().url  # our handlers, not moto's Lambda
        self.scim = ScimServer(self.scim_token).start()
        for logical_id, resource in load_template(self.template)["Resources"].items():
            props = resource.get("Properties", {})
            if "FunctionUrlConfig" in props:
                self.function_urls[logical_id] = FunctionUrlServer(logical_id).start()
            elif any(e.get("Type") == "Api" for e in props.get("Events", {}).values()):
                self.function_urls[logical_id] = FunctionUrlServer(logical_id, rest_event).start()
        self._provision()
        return self

    def _provision(self) -> None:
        known = {(f"{name}Url", "FunctionUrl"): server.url for name, server in self.function_urls.items()}
        self.resources = provision(self.template, region=REGION, known=known)
        os.environ.update(self.resources.environment)
        self.iam.load(self.template, self.resources.resolver, self.function_names())
        syncjobs_settings.reset()
        store_clients.reset()
        store_secrets.forget()
        self._scale_visibility(self._timeouts)
        self._load_handlers()
        if self.with_pollers:
            self._start_pollers()

    def reset(
        self,
        pollers: bool | None = None,
        timeouts: dict[str, float] | None = None,
        shard_workers: int | None = None,
        async_retry_delay_s: float | None = None,
    ) -> None:
        """Empty every resource (moto reset, fresh provisioning) and the SCIM target; keep the servers.

        `pollers` turns the pollers on or off from now on (None: as before). `timeouts` scales time
        down for a test: per function, the Timeout to enforce instead of the template's; the queues
        that feed it get their VisibilityTimeout scaled by the same factor (Lambda redelivers a timed
        out message when its visibility timeout ends). Without it, the template's values hold.
        `async_retry_delay_s`: as in the constructor, for this test only.
        """
        if pollers is not None:
            self.with_pollers = pollers
        self._stop_pollers()
        self._timeouts = dict(timeouts or {})
        self.shard_workers = shard_workers or self._default_workers
        self.clock = time.monotonic
        self.async_invoker.retry_delay_s = (
            self._async_retry_delay_s if async_retry_delay_s is None else async_retry_delay_s
        )
        self.invocations.clear()
        recording_times.clear()  # a container's memory of slow recordings: each test starts with new ones
        self.http_get(f"{self.moto_url}/moto-api/reset", method="POST")
        assert self.scim is not None
        self.scim.new_tenant()
        self._provision()

    def enforce_timeouts(self, timeouts: dict[str, float]) -> None:
        """From now on, per function, the Timeout to enforce instead of the template's (as `reset`'s
        `timeouts`, without emptying anything); the functions not named get the template's again."""
        self._timeouts = dict(timeouts)
        self._scale_visibility(self._timeouts)

    def refresh(self) -> None:
        """A light reset for tests that keep to their own job, export and runs: no pollers, an empty
        SCIM target, empty shard queues, real time and the template's timeouts; AWS keeps its data."""
        if self.with_pollers:
            self._stop_pollers()
            self.with_pollers = False
        assert self.scim is not None
        assert self.resources is not None
        self.scim.new_tenant()
        self.clock = time.monotonic
        self.invocations.clear()
        self.enforce_timeouts({})
        sqs: Any = boto3.client("sqs")
        for url, _ in self._event_queues("RunShardFunction"):  # emptied by hand: SQS purges once a minute
            while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
                for m in messages:
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])

    def stop(self) -> None:
        self._stop_pollers()
        if self.iam.install in store_clients.client_hooks:
            store_clients.client_hooks.remove(self.iam.install)
            store_clients.reset()
        for server in self.function_urls.values():
            server.stop()
        self.lambda_api.stop()
        if self.scim:
            self.scim.stop()
        if self._moto:
            self._moto.stop()

    # ------------------------------------------------------------------ handlers
    def _load_handlers(self) -> None:
        assert self.resources is not None
        for logical_id, spec in self.resources.functions.items():
            if str(spec.code_dir) not in sys.path:
                sys.path.insert(0, str(spec.code_dir))
            module = importlib.import_module(spec.module)
            self._handlers[logical_id] = as_function(logical_id, getattr(module, spec.handler))
            if logical_id in self.function_urls:
                self.function_urls[logical_id].invoke = functools.partial(self.invoke, logical_id)

    def timeout_of(self, logical_id: str) -> float:
        assert self.resources is not None
        return self._timeouts.get(logical_id, self.resources.functions[logical_id].timeout_s)

    def invoke(self, logical_id: str, event: dict[str, Any]) -> Any:
        """Call a function's handler the way Lambda would, with a Lambda-shaped event, a context whose
        remaining time is true, and its Timeout enforced (InvocationTimedOut; see invocations.py)."""
        assert self.resources is not None
        spec = self.resources.functions[logical_id]
        timeout = self.timeout_of(logical_id)
        name = self.resources.attr(logical_id, "Arn").rsplit(":", 1)[1]  # the function's name, as on Lambda
        context = LambdaContext(
            name, REGION, self.resources.resolver.account, spec.memory_mb, timeout, clock=self.clock
        )
        handler = self._handlers[logical_id]

        def call() -> Any:
            with function_logs.invocation(context):
                return handler(event, context)

        return run_with_timeout(logical_id, context.aws_request_id, timeout, call, self.invocations)

    def _event_queues(self, logical_id: str) -> list[tuple[str, dict[str, Any]]]:
        """(queue URL, resolved event properties) of each SQS event source of a function."""
        assert self.resources is not None
        res = self.resources
        queues = []
        for event in res.functions[logical_id].events.values():
            if event["Type"] != "SQS":
                continue
            props = res.resolver.resolve(event.get("Properties", {}))
            url = next(
                res.name(q) for (q, a), v in res.resolver.attributes.items() if a == "Arn" and v == props["Queue"]
            )
            queues.append((url, props))
        return queues

    def _scale_visibility(self, timeouts: dict[str, float]) -> None:
        """Each queue feeding a function in `timeouts` gets the template's VisibilityTimeout scaled by
        that function's time factor; the others get the template's own (so this can run again)."""
        assert self.resources is not None
        res = self.resources
        resources = load_template(self.template)["Resources"]
        sqs: Any = boto3.client("sqs")
        for logical_id, spec in res.functions.items():
            factor = timeouts.get(logical_id, spec.timeout_s) / spec.timeout_s
            for url, props in self._event_queues(logical_id):
                queue = next(q for (q, a), v in res.resolver.attributes.items() if a == "Arn" and v == props["Queue"])
                visibility = int(resources[queue].get("Properties", {}).get("VisibilityTimeout", 30))
                scaled = max(1, round(visibility * factor))
                sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": str(scaled)})

    def _logical_id_of(self, name: str) -> str | None:
        """The function a name or an ARN designates, as Lambda's Invoke API and rule targets name it."""
        assert self.resources is not None
        for logical_id in self.resources.functions:
            arn = self.resources.attr(logical_id, "Arn")
            if name in (arn, arn.rsplit(":", 1)[1]):
                return logical_id
        return None

    def invoker(self, name: str) -> Any:
        """The function a name or an ARN designates, called synchronously (RequestResponse)."""
        logical_id = self._logical_id_of(name)
        return functools.partial(self.invoke, logical_id) if logical_id else None

    def event_target(self, name: str) -> Any:
        """What an asynchronous invocation of the function does: its retries, then its on-failure
        destination (async_invoke.py). Schedules and Event invokes of the Invoke API go through it."""
        logical_id = self._logical_id_of(name)
        return self.async_invoker.target(logical_id) if logical_id else None

    def _async_configs(self) -> dict[str, AsyncConfig]:
        assert self.resources is not None
        res = self.resources
        return {lid: AsyncConfig.of(res.resolver.resolve(spec.event_invoke)) for lid, spec in res.functions.items()}

    # ------------------------------------------------------------------ pollers
    def _start_pollers(self) -> None:
        assert self.resources is not None
        res = self.resources
        for logical_id, spec in res.functions.items():
            for event_name, event in spec.events.items():
                if event["Type"] not in {"SQS", "DynamoDB"}:
                    continue  # API events: there is no API Gateway locally
                props = res.resolver.resolve(event.get("Properties", {}))

                invoke = functools.partial(self.invoke, logical_id)

                if event["Type"] == "SQS":
                    queue_url = next(url for url, p in self._event_queues(logical_id) if p["Queue"] == props["Queue"])
                    workers = min(self.shard_workers, props.get("ScalingConfig", {}).get("MaximumConcurrency", 1000))
                    turn = ListeningTurn()
                    for i in range(max(1, workers)):
                        self._pollers.append(
                            SqsPoller(
                                f"{event_name}-{i}",
                                queue_url,
                                props["Queue"],
                                invoke,
                                int(props.get("BatchSize", 10)),
                                REGION,
                                turn=turn,
                            )
                        )
                elif event["Type"] == "DynamoDB":
                    on_failure = props.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
                    on_failure_url = next(
                        (
                            res.name(q)
                            for (q, a), v in res.resolver.attributes.items()
                            if a == "Arn" and v == on_failure and on_failure
                        ),
                        None,
                    )
                    self._pollers.append(
                        StreamPoller(
                            event_name,
                            props["Stream"],
                            invoke,
                            FilterCriteria.from_template(props.get("FilterCriteria")),
                            int(props.get("BatchSize", 100)),
                            int(props.get("MaximumRetryAttempts", 3)),
                            on_failure_url,
                            REGION,
                            props.get("StartingPosition", "TRIM_HORIZON"),
                        )
                    )
        self.outbox = Outbox(res.resolver.account, REGION, self.workdir / "outbox")
        self._pollers.append(self.outbox)
        if self.start_scheduler:
            self.scheduler = Scheduler(self.event_target)
            self._pollers.append(self.scheduler)
        for poller in self._pollers:
            poller.start()

    def _stop_pollers(self) -> None:
        self.async_invoker.stop()  # no waiting out retry delays
        for poller in self._pollers:
            poller.stop()
        for poller in self._pollers:
            poller.join(timeout=10)
        if self.scheduler is not None:
            self.scheduler.drain()
        self.lambda_api.drain()
        self.lambda_api.errors.clear()
        self.async_invoker.resume()
        self._pollers = []

    def replay_streams(self, times: int = 1) -> None:
        """Deliver every record the jobs table's stream holds to its consumers (notify, advance) again,
        `times` times, unfiltered: what a retried or duplicated stream batch does. Raises if a batch fails."""
        assert self.resources is not None
        streams: Any = boto3.client("dynamodbstreams")
        arn = self.resources.attr("JobsTable", "StreamArn")
        records: list[dict[str, Any]] = []
        for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
            iterator = streams.get_shard_iterator(
                StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
            while iterator:
                out = streams.get_records(ShardIterator=iterator, Limit=1000)
                records += out["Records"]
                iterator = out.get("NextShardIterator") if out["Records"] else None
        events = [stream_record(r, arn, REGION) for r in records]
        consumers = [
            logical_id
            for logical_id, spec in self.resources.functions.items()
            if any(e["Type"] == "DynamoDB" for e in spec.events.values())
        ]
        for _ in range(times):
            for consumer in consumers:
                for offset in range(0, len(events), 100):
                    answer = self.invoke(consumer, {"Records": events[offset : offset + 100]})
                    if answer["batchItemFailures"]:
                        raise RuntimeError(f"{consumer} failed on replayed records: {answer['batchItemFailures']}")

    def poller_errors(self) -> list[str]:
        """What failed in the pollers and in asynchronous invocations since the last reset."""
        return [*(e for p in self._pollers for e in p.errors), *self.lambda_api.errors]

    # ------------------------------------------------------------------ conveniences
    def fetch(self, url: str, method: str = "GET") -> tuple[bytes, Message]:
        """Fetch a URL of the local AWS (a presigned link, the moto API): body, headers."""
        request = urllib.request.Request(url, method=method)  # noqa: S310 - loopback URLs only
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return response.read(), response.headers

    def http_get(self, url: str, method: str = "GET") -> bytes:
        return self.fetch(url, method)[0]

    @property
    def admin_api_url(self) -> str:
        """Where the admin API answers locally (API Gateway's place)."""
        return self.function_urls["AdminApiFunction"].url.rstrip("/")

    def function_names(self) -> dict[str, str]:
        """Per function logical id: its name (what Lambda names the assumed role's session)."""
        assert self.resources is not None
        return {lid: self.resources.attr(lid, "Arn").rsplit(":", 1)[1] for lid in self.resources.functions}

    def acting_as(self, logical_id: str) -> contextlib.AbstractContextManager[None]:
        """For tests that call a workflow directly: its AWS calls are checked as `logical_id`'s."""
        assert self.resources is not None
        assert logical_id in self.resources.functions, logical_id
        return acting_as(logical_id)

    def policies_of(self, template: Path) -> contextlib.AbstractContextManager[None]:
        """For a test: the functions act with the IAM policies of another template (a modified copy)."""
        assert self.resources is not None
        return self.iam.policies_of(template, self.resources.resolver, self.function_names())

    def function_arn(self, logical_id: str) -> str:
        assert self.resources is not None
        return self.resources.attr(logical_id, "Arn")
