"""Lambda's asynchronous invocation, locally: what happens to an Event invoke (the Invoke API with
InvocationType Event, an EventBridge rule's target) after Lambda has accepted it.

Lambda runs the event; when the function fails it retries the event up to MaximumRetryAttempts times
(the function's EventInvokeConfig, 2 by default), about one and then two minutes apart, and then hands
it to the on-failure destination as a destination record (below), or drops it. Locally the waits are
`retry_delay_s` and twice that (a second by default: nobody waits minutes for a demo or a test).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

Invoke = Callable[[str, dict[str, Any]], Any]  # (logical id, event) -> result; raises when it fails

DEFAULT_RETRIES = 2  # Lambda's MaximumRetryAttempts when a function sets none


@dataclass(frozen=True)
class AsyncConfig:
    """A function's EventInvokeConfig, resolved: its retries and its on-failure destination's ARN."""

    max_retries: int = DEFAULT_RETRIES
    on_failure: str | None = None

    @classmethod
    def of(cls, props: dict[str, Any]) -> AsyncConfig:
        on_failure = props.get("DestinationConfig", {}).get("OnFailure", {})
        if on_failure and on_failure.get("Type", "Lambda") != "Lambda":
            raise ValueError(f"on-failure destination type {on_failure.get('Type')!r} is not run locally")
        return cls(int(props.get("MaximumRetryAttempts", DEFAULT_RETRIES)), on_failure.get("Destination"))


def destination_record(
    payload: dict[str, Any], function_arn: str, attempts: int, error: BaseException, now: datetime | None = None
) -> dict[str, Any]:
    """The event an on-failure destination receives, shaped as Lambda's (AWS Lambda developer guide,
    "Capturing records of asynchronous invocations")."""
    stamp = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return {
        "version": "1.0",
        "timestamp": stamp,
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "functionArn": f"{function_arn}:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": attempts,
        },
        "requestPayload": payload,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {"errorMessage": str(error), "errorType": type(error).__name__},
    }


class AsyncInvoker:
    """Runs asynchronous invocations as Lambda does (retries, then the on-failure destination)."""

    def __init__(
        self,
        invoke: Invoke,
        configs: Callable[[], dict[str, AsyncConfig]],
        arn_of: Callable[[str], str],
        logical_id_of: Callable[[str], str | None],
        retry_delay_s: float = 1.0,
    ) -> None:
        self._invoke = invoke
        self._configs = configs
        self._arn_of = arn_of
        self._logical_id_of = logical_id_of
        self.retry_delay_s = retry_delay_s
        self._stopping = threading.Event()
        self.failed: list[dict[str, Any]] = []  # destination records handed on (what a test looks at)

    def run(self, logical_id: str, payload: dict[str, Any]) -> None:
        """One accepted event, to its end. Raises the last error when the event is dropped (no
        destination) or its destination failed too: the caller records it."""
        config = self._configs().get(logical_id, AsyncConfig())
        attempts = config.max_retries + 1
        for attempt in range(1, attempts + 1):
            try:
                self._invoke(logical_id, payload)
                return
            except KeyboardInterrupt:
                raise
            except BaseException as err:  # a handler error, a timeout, or its process dying: Lambda retries each
                if attempt == attempts:
                    self._exhausted(logical_id, payload, attempts, config, err)
                    return
            if self._stopping.wait(self.retry_delay_s * attempt):  # 1x, then 2x: Lambda's back-off
                return  # the stack is being reset under it

    def _exhausted(
        self, logical_id: str, payload: dict[str, Any], attempts: int, config: AsyncConfig, error: BaseException
    ) -> None:
        if config.on_failure is None:
            raise error
        destination = self._logical_id_of(config.on_failure)
        if destination is None:
            raise RuntimeError(f"{logical_id}: on-failure destination {config.on_failure} is not a local function")
        record = destination_record(payload, self._arn_of(logical_id), attempts, error)
        self.failed.append(record)
        self._invoke(destination, record)  # Lambda retries a failed destination delivery; we report it

    def target(self, logical_id: str) -> Callable[[dict[str, Any]], None]:
        """What an Event invoke of the function runs (in the caller's thread)."""
        return lambda payload: self.run(logical_id, payload)

    def stop(self) -> None:
        """Cut the waits between retries short (the stack is reset or stopped)."""
        self._stopping.set()

    def resume(self) -> None:
        self._stopping.clear()
        self.failed.clear()
