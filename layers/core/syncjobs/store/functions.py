"""Lambda: start a run the way a schedule does, by invoking start_run asynchronously; hand a run's
finalize to the advance function the same way."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from syncjobs.settings import get_settings
from syncjobs.store.clients import client
from syncjobs.store.errors import StoreError, translate


class Functions:
    def __init__(self) -> None:
        self._lambda = client("lambda")

    def start_run_async(self, payload: dict[str, Any]) -> None:
        """Queue an invocation of start_run (Lambda retries it twice if it fails)."""
        self._invoke_async(get_settings().start_run_function, "START_RUN_FUNCTION", payload, "starting a run")

    def finalize_async(self, run_id: str, function: str | None = None) -> None:
        """Queue a finalize of the run in the advance function (its own, longer Timeout; Lambda retries
        it twice, and a finalize that never happens is ended by the stall sweep). `function`: the
        advance function's own ARN, when it hands a finalize it could not end on to itself."""
        payload = {"finalize": run_id}
        name = function or get_settings().finalize_function
        self._invoke_async(name, "FINALIZE_FUNCTION", payload, f"finalizing run {run_id}")

    def provision(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Provision one entity now in the run_shard function (synchronously: its answer is the result)."""
        name = get_settings().provision_function
        if not name:
            raise StoreError("PROVISION_FUNCTION is not set: this function cannot provision")
        try:
            answer = self._lambda.invoke(FunctionName=name, Payload=json.dumps(payload).encode())
        except ClientError as err:
            raise translate(err, "provisioning an entity") from err
        body = json.loads(answer["Payload"].read() or b"null")
        if answer.get("FunctionError") or not isinstance(body, dict):
            raise StoreError(f"provisioning an entity failed in {name}: {body}")
        return body

    def _invoke_async(self, name: str, setting: str, payload: dict[str, Any], what: str) -> None:
        if not name:
            raise StoreError(f"{setting} is not set: this function cannot do that ({what})")
        try:
            answer = self._lambda.invoke(
                FunctionName=name, InvocationType="Event", Payload=json.dumps(payload).encode()
            )
        except ClientError as err:
            raise translate(err, what) from err
        if answer.get("StatusCode") != 202:
            raise StoreError(f"{what}: Lambda answered {answer.get('StatusCode')}")
