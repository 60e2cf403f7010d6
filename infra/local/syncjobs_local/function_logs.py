"""The functions' log lines, locally: each with its own invocation's Lambda context, and in a file.

On Lambda each execution environment runs one invocation at a time, so the Powertools Logger made once
per process (syncjobs/observability.py) holds the one current invocation's context (function_name,
function_request_id, ...): `inject_lambda_context` appends it to the logger's shared keys. The local
stack runs every function's handlers in threads of one process, so those shared keys are whichever
handler started last: a notify line could say run_shard. Here the local stack names the invocation of
the thread that runs each handler (a context variable, which the handlers' worker pools copy), and a
filter on the Powertools handler writes that invocation's keys on each record; a line written outside
any invocation (a poller's) carries none. The handlers and their decorators stay as they are on AWS.

`to_file` sends the lines to a file instead of the terminal (the demo and `syncjobs local up`), with the
Python warnings the handlers raise.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from syncjobs.observability import logger

# what Powertools' inject_lambda_context appends (build_lambda_context_model), plus cold_start
KEYS = ("function_name", "function_memory_size", "function_arn", "function_request_id", "cold_start")

_invocation: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "syncjobs_local_invocation", default=None
)
_started: set[str] = set()  # functions invoked once already in this process (their next start is warm)
_started_lock = threading.Lock()


def keys_of(context: Any) -> dict[str, Any]:
    """The keys Powertools takes from a Lambda context, and whether it is this function's first start."""
    with _started_lock:
        cold = context.function_name not in _started
        _started.add(context.function_name)
    return {
        "function_name": context.function_name,
        "function_memory_size": context.memory_limit_in_mb,
        "function_arn": context.invoked_function_arn,
        "function_request_id": context.aws_request_id,
        "cold_start": cold,
    }


@contextlib.contextmanager
def invocation(context: Any) -> Iterator[None]:
    """Log lines written inside (in this thread, or a pool it hands copies of its context to) carry
    this invocation's keys."""
    token = _invocation.set(keys_of(context))
    try:
        yield
    finally:
        _invocation.reset(token)


class InvocationKeys(logging.Filter):
    """Writes the current invocation's keys on each record (Powertools puts a record's attributes
    last, over its shared keys); outside an invocation, None, which Powertools leaves out."""

    def filter(self, record: logging.LogRecord) -> bool:
        keys = _invocation.get() or {}
        for key in KEYS:
            setattr(record, key, keys.get(key))
        return True


_FILTER = InvocationKeys()


def install() -> None:
    """Put the filter on the Powertools handler (once; the local stack calls it at its start)."""
    handler = logger.registered_handler
    if _FILTER not in handler.filters:
        handler.addFilter(_FILTER)


@contextlib.contextmanager
def to_file(path: Path, level: str = "INFO") -> Iterator[Path]:
    """The functions' log lines (and the local stack's own: `syncjobs.local`) go to `path`, appended,
    at `level`, until the block ends; then back where they went, at the level they had."""
    handler = logger.registered_handler
    if not isinstance(handler, logging.StreamHandler):
        raise TypeError(f"the Powertools handler is a {type(handler).__name__}, not a stream")
    path.parent.mkdir(parents=True, exist_ok=True)
    before_level = logger.log_level
    warnings_logger = logging.getLogger("py.warnings")
    with path.open("a", encoding="utf-8", buffering=1) as stream:
        before: TextIO = handler.setStream(stream) or stream
        logger.setLevel(level)
        # Python warnings a handler raises (Powertools' "No application metrics to publish") go to
        # stderr, on Lambda into the function's log: here into this file, as JSON lines like the rest
        warned = logging.StreamHandler(stream)
        warned.setFormatter(handler.formatter)
        warned.addFilter(_FILTER)
        warnings_logger.addHandler(warned)
        logging.captureWarnings(True)
        try:
            yield path
        finally:
            logging.captureWarnings(False)
            warnings_logger.removeHandler(warned)
            handler.setStream(before)
            logger.setLevel(before_level)
