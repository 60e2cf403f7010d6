"""How a command prints what the admin API answered, as `aws --output` does: `json` (the answer whole,
keys sorted, nothing else on stdout), `text` (tab-separated lines for scripts) or `table` (for people).

Nothing printed here is read as rich markup: values (and error messages) come out as they are."""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.text import Text


class Format(StrEnum):
    TABLE = "table"
    JSON = "json"
    TEXT = "text"


def _console(stderr: bool = False) -> Console:
    """On a terminal, its width; off one (a pipe, a file), no width at all: nothing is cut or wrapped."""
    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() else 1_000_000
    return Console(stderr=stderr, width=width, markup=False, highlight=False, soft_wrap=not stream.isatty())


out = _console()
err = _console(stderr=True)

OUTPUT_HELP = "json (the API's answer), text (tab-separated, for scripts) or table; env SYNCJOBS_OUTPUT"
OutputOption = Annotated[
    Format | None,
    typer.Option("--output", "-o", metavar="FORMAT", help=OUTPUT_HELP, show_default=False, case_sensitive=False),
]


class _Chosen:
    format: Format = Format.TABLE


def choose(global_format: Format | None) -> None:
    """The program-wide format: --output before the command, else SYNCJOBS_OUTPUT, else table."""
    if global_format is None:
        env = os.environ.get("SYNCJOBS_OUTPUT", "").strip().lower()
        if env and env not in {f.value for f in Format}:
            raise typer.BadParameter(f"SYNCJOBS_OUTPUT must be json, text or table (got {env!r})")
        global_format = Format(env) if env else Format.TABLE
    _Chosen.format = global_format


def current(local: Format | None = None) -> Format:
    """The command's own --output, else the program-wide one."""
    return local or _Chosen.format


def cell(value: Any) -> str:
    """A value in a text line: None as `-`, lists comma-joined, mappings as compact JSON, no tabs or newlines."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list | tuple):
        return ",".join(cell(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    return re.sub(r"[\t\r\n]+", " ", str(value))


def emit(
    data: Any,
    fmt: Format,
    table: Callable[[], None],
    text: Iterable[Sequence[Any]] | None = None,
) -> None:
    """Print `data` (the API's answer) as `fmt` says: json whole, text as the rows given, table by `table`."""
    if fmt is Format.JSON:
        sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    elif fmt is Format.TEXT and text is not None:
        for row in text:
            sys.stdout.write("\t".join(cell(v) for v in row) + "\n")
    else:
        table()
    sys.stdout.flush()


def say(line: str) -> None:
    """A line for people, printed literally."""
    out.print(Text(line))


def label(name: str) -> Text:
    return Text(name, style="bold")


def print_error(message: str) -> None:
    err.print(Text.assemble(("error: ", "red"), message))


_DURATION = re.compile(r"^(\d+)([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(value: str, now: datetime | None = None) -> datetime:
    """`--since`: an ISO time (UTC unless it says otherwise) or a duration back from now (30m, 12h, 7d, 2w)."""
    found = _DURATION.match(value.strip())
    if found:
        amount, unit = found.groups()
        return (now or datetime.now(UTC)) - timedelta(**{_UNITS[unit]: int(amount)})
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is neither an ISO time (2026-01-31T08:00:00Z) nor a duration (30m, 12h, 7d, 2w)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
