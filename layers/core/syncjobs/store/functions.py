"""Lambda: start a run the way a schedule does, by invoking start_run asynchronously."""

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
        name = get_settings().start_run_function
        if not name:
            raise StoreError("START_RUN_FUNCTION is not set: this function cannot start runs")
        try:
            answer = self._lambda.invoke(
                FunctionName=name, InvocationType="Event", Payload=json.dumps(payload).encode()
            )
        except ClientError as err:
            raise translate(err, "starting a run") from err
        if answer.get("StatusCode") != 202:
            raise StoreError(f"starting a run: Lambda answered {answer.get('StatusCode')}")
