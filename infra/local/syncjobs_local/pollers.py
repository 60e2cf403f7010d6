"""What Lambda's event source mappings and EventBridge do, done by threads against the local AWS.

- SqsPoller: receive -> Lambda SQS event -> handler -> delete what succeeded (partial batch). The
  pollers of one queue take turns at listening (ListeningTurn): one idle poller long-polls, not all.
- StreamPoller: DynamoDB stream -> FilterCriteria -> handler -> retry the failed record and what
  follows it up to MaximumRetryAttempts, then hand the batch to the OnFailure queue and move on. It
  reads the stream from moto's backend in this process (MotoStream), not through its HTTP API.
- Scheduler: EventBridge rules' and EventBridge Scheduler schedules -> the target function with the target's input.
- Outbox: mail that SES (moto) accepted -> .eml files a person can open.
"""

from __future__ import annotations

import copy
import json
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from syncjobs.schedules import Schedule, ScheduleError, parse, zone
from syncjobs_local import moto_fixes
from syncjobs_local.invocations import InvocationTimedOut
from syncjobs_local.lambda_events import FilterCriteria, sqs_event, stream_record

log = logging.getLogger("syncjobs.local")

Invoke = Callable[[dict[str, Any]], Any]


class _Loop(threading.Thread):
    interval = 0.2

    def __init__(self, name: str) -> None:
        super().__init__(name=name, daemon=True)
        self._stop_event = threading.Event()
        self.errors: list[str] = []

    def stop(self) -> None:
        self._stop_event.set()

    def run(self) -> None:
        while not self._stop_event.is_set():
            try:
                busy = self.tick()
            except Exception as err:
                log.exception("poller tick failed", extra={"poller": self.name})
                self.errors.append(f"{type(err).__name__}: {err}")
                busy = False
            if not busy:
                self._stop_event.wait(self.interval)

    def tick(self) -> bool:
        raise NotImplementedError


class ListeningTurn:
    """Which of a queue's idle pollers long-polls it: one at a time. It hands the turn on as soon as
    it has messages (before it invokes), so the next idle poller listens while it works: a burst still
    reaches as many concurrent invocations as there are pollers. Without turns, each of a shard queue's
    ten idle pollers sent a ReceiveMessage a second to moto, served in this process and costing the
    handlers beside them CPU (about 150 calls in a 6 s, 1,000-user run; on AWS the mapping's polling is
    no function time)."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._taken = False

    def take(self, wait_s: float) -> bool:
        """The turn, once no other poller has it (False: still taken after `wait_s`)."""
        with self._changed:
            if not self._changed.wait_for(lambda: not self._taken, wait_s):
                return False
            self._taken = True
            return True

    def hand_on(self) -> None:
        with self._changed:
            self._taken = False
            self._changed.notify()


class SqsPoller(_Loop):
    """Like an SQS event source mapping with ReportBatchItemFailures. `turn`: shared by the pollers of
    one queue (see ListeningTurn); None: this poller listens on its own."""

    def __init__(
        self,
        name: str,
        queue_url: str,
        queue_arn: str,
        invoke: Invoke,
        batch_size: int,
        region: str,
        retry_delay_s: int = 1,
        turn: ListeningTurn | None = None,
    ) -> None:
        super().__init__(name)
        self._turn = turn or ListeningTurn()
        self._sqs: Any = boto3.client("sqs")
        self._url, self._arn, self._invoke = queue_url, queue_arn, invoke
        self._batch, self._region, self._retry_delay = batch_size, region, retry_delay_s
        self.invocations = 0

    def tick(self) -> bool:
        if not self._turn.take(wait_s=self.interval):
            return True  # another poller listens; this one asks again (after a look at the stop signal)
        try:
            out = self._sqs.receive_message(
                QueueUrl=self._url,
                MaxNumberOfMessages=min(self._batch, 10),
                WaitTimeSeconds=1,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
        finally:
            self._turn.hand_on()
        messages = out.get("Messages", [])
        if not messages:
            return False
        self.invocations += 1
        failed: set[str] = {m["MessageId"] for m in messages}
        try:
            response = self._invoke(sqs_event(messages, self._arn, self._region)) or {}
            failed = {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
        except InvocationTimedOut as err:
            # Lambda does nothing with a timed-out batch: it reappears when its visibility timeout ends
            log.warning("invocation timed out", extra={"poller": self.name, "timeout_s": err.timeout_s})
            self.errors.append(str(err))
            return True
        except Exception as err:
            log.exception("handler failed", extra={"poller": self.name})
            self.errors.append(f"{type(err).__name__}: {err}")
        for m in messages:
            if m["MessageId"] in failed:
                # Lambda leaves a failed message until its visibility timeout ends; locally we make it
                # visible again after a short delay so retries happen in seconds, not minutes.
                self._sqs.change_message_visibility(
                    QueueUrl=self._url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=self._retry_delay
                )
            else:
                self._sqs.delete_message(QueueUrl=self._url, ReceiptHandle=m["ReceiptHandle"])
        return True


class MotoStream:
    """A table's DynamoDB stream read straight from moto's backend (moto runs in this process).

    On AWS, Lambda reads a stream for its event source mapping on its own servers: none of it is
    function time. Read through moto's HTTP API instead, every record's old and new item images were
    serialised by moto and parsed again by boto3, once per consumer (the notifier and the advance
    function): in a 1,000-user run that was a fifth of this process's CPU (about 1 s of 4.8 s,
    measured), taken from the handlers that share its interpreter lock. moto keeps one shard per table.
    The records are those GetRecords would return, read under moto_fixes' write lock, so a cancelled
    transaction's records (cut back before the lock is let go) are never seen."""

    def __init__(self, stream_arn: str, starting_position: str = "TRIM_HORIZON") -> None:
        # arn:aws:dynamodb:REGION:ACCOUNT:table/NAME/stream/LABEL
        _, _, _, self._region, self._account, resource = stream_arn.split(":", 5)
        self._table = resource.split("/")[1]
        shard = self._shard()
        start = shard.starting_sequence_number
        self._next = start + len(shard.items) if starting_position == "LATEST" else start

    def _shard(self) -> Any:
        from moto.dynamodb.models import dynamodb_backends

        return dynamodb_backends[self._account][self._region].get_table(self._table).stream_shard

    def read(self, limit: int) -> list[dict[str, Any]]:
        """Up to `limit` records after those read before, oldest first (copies: moto's are live)."""
        with moto_fixes.writes_held():
            shard = self._shard()
            offset = self._next - shard.starting_sequence_number
            records = [copy.deepcopy(r.to_json()) for r in shard.items[offset : offset + limit]]
        self._next += len(records)
        return records


class StreamPoller(_Loop):
    """Like a DynamoDB stream event source mapping with FilterCriteria and ReportBatchItemFailures."""

    def __init__(
        self,
        name: str,
        stream_arn: str,
        invoke: Invoke,
        criteria: FilterCriteria,
        batch_size: int,
        max_retries: int,
        on_failure_queue_url: str | None,
        region: str,
        starting_position: str = "TRIM_HORIZON",
    ) -> None:
        super().__init__(name)
        self._stream = MotoStream(stream_arn, starting_position)
        self._sqs: Any = boto3.client("sqs")
        self._arn, self._invoke, self._criteria = stream_arn, invoke, criteria
        self._batch, self._max_retries, self._on_failure = batch_size, max_retries, on_failure_queue_url
        self._region = region
        self._pending: list[dict[str, Any]] = []
        self._attempts = 0
        self.delivered = 0

    def tick(self) -> bool:
        if not self._pending:
            records = self._stream.read(limit=1000)
            events = [stream_record(r, self._arn, self._region) for r in records]
            self._pending.extend(e for e in events if self._criteria.accepts(e))
            if not self._pending:
                return False
        batch = self._pending[: self._batch]
        failed_from = self._deliver(batch)
        if failed_from is None:
            self._pending = self._pending[len(batch) :]
            self._attempts = 0
            return True
        self._attempts += 1
        if self._attempts > self._max_retries:
            self._send_to_on_failure(batch[failed_from:])
            self._pending = self._pending[len(batch) :]
            self._attempts = 0
        else:
            # Lambda retries from the first failed record; the ones before it are done.
            self._pending = self._pending[failed_from:]
            time.sleep(min(0.2 * 2**self._attempts, 2.0))
        return True

    def _deliver(self, batch: list[dict[str, Any]]) -> int | None:
        """Index of the first failed record, or None when the whole batch succeeded."""
        self.delivered += len(batch)
        try:
            response = self._invoke({"Records": batch}) or {}
        except BatchProcessingError:
            # Powertools raises this when every record of the batch failed (each one reported): a
            # function error, so Lambda retries the batch; an error here only if the retries run out
            log.info("every record of the batch failed; retried", extra={"poller": self.name})
            return 0
        except Exception as err:
            log.exception("handler failed", extra={"poller": self.name})
            self.errors.append(f"{type(err).__name__}: {err}")
            return 0
        failures = {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
        for index, record in enumerate(batch):
            if record["dynamodb"]["SequenceNumber"] in failures:
                return index
        return None

    def _send_to_on_failure(self, records: list[dict[str, Any]]) -> None:
        log.error("stream records dropped after retries", extra={"poller": self.name, "count": len(records)})
        self.errors.append(f"{self.name}: {len(records)} stream record(s) dropped after {self._max_retries} retries")
        if self._on_failure:
            self._sqs.send_message(
                QueueUrl=self._on_failure,
                MessageBody=json.dumps(
                    {
                        "requestContext": {"condition": "RetryAttemptsExhausted"},
                        "DDBStreamBatchInfo": {
                            "streamArn": self._arn,
                            "batchSize": len(records),
                            "startSequenceNumber": records[0]["dynamodb"]["SequenceNumber"],
                            "endSequenceNumber": records[-1]["dynamodb"]["SequenceNumber"],
                        },
                    }
                ),
            )


def transform(transformer: dict[str, Any], event: dict[str, Any]) -> Any:
    """An input transformer with top-level paths ($.time, $.id), as EventBridge applies it: in a JSON
    template, a string value is inserted quoted."""
    template = transformer["InputTemplate"]
    for name, path in transformer.get("InputPathsMap", {}).items():
        value = event.get(path.removeprefix("$."))
        template = template.replace(f"<{name}>", json.dumps(value))
    return json.loads(template)


def _next_fire(schedule: Schedule, now: datetime, anchor: datetime, zone_name: str) -> datetime | None:
    fires = schedule.next_fires(now, 1, anchor, zone_name)
    return fires[0] if fires else None


class Scheduler(_Loop):
    """Fires EventBridge rules with a ScheduleExpression at their times (UTC), and EventBridge Scheduler
    schedules at theirs (a cron's times in its ScheduleExpressionTimezone, daylight saving as Scheduler
    does it: see syncjobs.schedules), into their targets. `fired` lists (name, fire time in UTC)."""

    interval = 0.5

    def __init__(
        self,
        invoke_by_arn: Callable[[str], Invoke | None],
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        super().__init__("scheduler")
        self._events: Any = boto3.client("events")
        self._scheduler: Any = boto3.client("scheduler")
        self._invoke_by_arn = invoke_by_arn
        self._clock = clock or (lambda: datetime.now(UTC))
        self._next: dict[tuple[str, ...], datetime | None] = {}  # (rule, expression[, zone]) -> next fire (None: none)
        self._anchors: dict[str, datetime] = {}
        self.fired: list[tuple[str, datetime]] = []
        self._invocations: list[threading.Thread] = []

    def tick(self) -> bool:
        now = self._clock()
        rules: list[dict[str, Any]] = []
        for page in self._events.get_paginator("list_rules").paginate():
            rules.extend(r for r in page["Rules"] if r.get("ScheduleExpression") and r.get("State") == "ENABLED")
        for rule in rules:
            key = (rule["Name"], rule["ScheduleExpression"])
            try:
                schedule = parse(rule["ScheduleExpression"])
            except ScheduleError as err:
                log.warning("rule has an invalid schedule", extra={"rule": rule["Name"], "error": str(err)})
                continue
            fire_time = self._due(key, schedule, now, self._anchors.setdefault(rule["Name"], now))
            if fire_time is not None:
                self._fire(rule["Name"], fire_time)
        self._tick_schedules(now)
        return False

    def _tick_schedules(self, now: datetime) -> None:
        names: list[tuple[str, str]] = []
        for page in self._scheduler.get_paginator("list_schedules").paginate(State="ENABLED"):
            names.extend((s["GroupName"], s["Name"]) for s in page["Schedules"])
        for group, name in names:
            found = self._scheduler.get_schedule(GroupName=group, Name=name)
            expression, zone_name = found["ScheduleExpression"], found.get("ScheduleExpressionTimezone") or "UTC"
            key = (f"{group}/{name}", expression, zone_name)
            try:
                schedule = parse(expression)
                zone(zone_name)
            except ScheduleError as err:
                log.warning("schedule is invalid", extra={"schedule": name, "error": str(err)})
                continue
            # a rate counts from when this scheduler first saw it, as for rules: the schedule's StartDate
            # (made + one rate) is wall-clock time, and tests run this scheduler on a simulated clock
            fire_time = self._due(key, schedule, now, self._anchors.setdefault(f"{group}/{name}", now), zone_name)
            if fire_time is not None:
                self._fire_schedule(found, fire_time)

    def _due(
        self, key: tuple[str, ...], schedule: Schedule, now: datetime, anchor: datetime, zone_name: str = "UTC"
    ) -> datetime | None:
        """The fire time to fire now, if `key`'s schedule is due (its next one is then worked out); else None."""
        if key not in self._next:
            self._next[key] = _next_fire(schedule, now, anchor, zone_name)
        due = self._next[key]
        if due is None or now < due:
            return None
        self._next[key] = _next_fire(schedule, now, anchor, zone_name)
        return due

    def _start(self, name: str, fire_time: datetime, invoke: Callable[[Any], Any], payload: Any) -> None:
        """Invoke the target with `payload` in a thread of its own (asynchronously, as both services do)."""
        self.fired.append((name, fire_time))
        thread = threading.Thread(target=invoke, args=(payload,), name=f"fire-{name}", daemon=True)
        self._invocations.append(thread)
        thread.start()

    def _fire_schedule(self, schedule: dict[str, Any], fire_time: datetime) -> None:
        """As Scheduler invokes a Lambda target: its Input, with the context attributes filled in."""
        target, name = schedule["Target"], schedule["Name"]
        invoke = self._invoke_by_arn(target["Arn"])
        if invoke is None:
            log.warning("schedule target is not a local function", extra={"schedule": name, "arn": target["Arn"]})
            return
        context = {
            "<aws.scheduler.scheduled-time>": fire_time.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "<aws.scheduler.schedule-arn>": schedule["Arn"],
            "<aws.scheduler.execution-id>": f"{name}-{fire_time:%Y%m%dT%H%M}",
            "<aws.scheduler.attempt-number>": "1",
        }
        text = target.get("Input", "{}")
        for attribute, value in context.items():
            text = text.replace(attribute, value)
        self._start(name, fire_time, invoke, json.loads(text))

    def _fire(self, rule_name: str, fire_time: datetime) -> None:
        targets = self._events.list_targets_by_rule(Rule=rule_name)["Targets"]
        for target in targets:
            invoke = self._invoke_by_arn(target["Arn"])
            if invoke is None:
                log.warning("rule target is not a local function", extra={"rule": rule_name, "arn": target["Arn"]})
                continue
            event = {
                "version": "0",
                "id": f"{rule_name}-{fire_time:%Y%m%dT%H%M}",
                "detail-type": "Scheduled Event",
                "source": "aws.events",
                "time": fire_time.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "detail": {},
            }
            if "Input" in target:
                payload = json.loads(target["Input"])
            elif "InputTransformer" in target:
                payload = transform(target["InputTransformer"], event)
            else:
                payload = event
            self._start(rule_name, fire_time, invoke, payload)

    def drain(self, timeout_s: float = 60.0) -> None:
        """Wait for the start_run invocations fired so far (before the stack is reset under them)."""
        deadline = time.monotonic() + timeout_s
        for thread in self._invocations:
            thread.join(max(deadline - time.monotonic(), 0.0))


class Outbox(_Loop):
    """Writes every mail SES accepted to the outbox folder as an .eml file.

    moto runs in this process, so the outbox reads its SES backend directly (moto's data.json would
    serialise every service's state, the entity-state table included, several times a second).
    """

    interval = 0.3

    def __init__(self, account: str, region: str, folder: Path) -> None:
        super().__init__("outbox")
        self._account, self._region = account, region
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self._seen: set[str] = set()
        self.written: list[Path] = []

    def _unwritten(self) -> list[Any]:
        from moto.ses.models import RawMessage, ses_backends

        sent = list(ses_backends[self._account][self._region].sent_messages)
        return [m for m in sent if isinstance(m, RawMessage) and m.id not in self._seen]

    def drained(self) -> bool:
        """Every mail SES has accepted so far is in the outbox (what tests wait on before counting)."""
        return not self._unwritten()

    def tick(self) -> bool:
        wrote = False
        for message in self._unwritten():
            self._seen.add(message.id)
            path = self.folder / f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{message.id[:24]}.eml"
            path.write_bytes(message.raw_data.encode("utf-8", errors="surrogateescape"))
            self.written.append(path)
            wrote = True
        return wrote
