"""Limits on what one entity's mapping may compute: a mapping is code an admin writes, and a shard runs
it for every entity inside a Lambda of fixed memory and time.

Without loops or macros (refused when a mapping is compiled), an expression can only grow through a
handful of operations: repeating a sequence (`'x' * n`), powers, %-formatting, padding and replacing
filters and methods, joining, and concatenating. Each of those is checked here before it allocates
(the result's size is known from its operands) and charged after, against two budgets per entity and
thread: MAX_VALUE_CHARS for any one result, MAX_ENTITY_CHARS for everything the entity's mapping
produced, and MAX_ENTITY_CPU_S of the thread's CPU time since its first checked operation. A breach
raises MappingLimit, which fails that entity with the reason (the shard goes on). What every other
operation returns is no larger than its inputs, which are the source row and checked results.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from functools import wraps
from typing import Any

from jinja2 import Environment
from jinja2.nodes import EvalContext
from jinja2.runtime import Context

MAX_VALUE_CHARS = 65_536  # one attribute value: far above any SCIM attribute
MAX_ENTITY_CHARS = 1_048_576  # everything one entity's mapping produces on the way
MAX_ENTITY_CPU_S = 0.25  # one entity's mapping, from its first checked operation
MAX_POWER_BITS = 4096  # an integer power's result


class MappingLimit(Exception):
    """An expression went past a limit (the message names which)."""


class _Budget(threading.local):
    produced = 0
    started: float | None = None


_budget = _Budget()


def new_entity() -> None:
    """Start the budgets of the next entity on this thread (cheap: every entity calls it)."""
    _budget.produced = 0
    _budget.started = None


def deep_size(value: Any, limit: int = MAX_ENTITY_CHARS) -> int:
    """The size of a value as text would have it: characters of its strings and one per element,
    through nested containers, a shared one counted each time it appears (a list of a list of ... is
    that long once rendered). The walk stops once past `limit`, so it never costs more than that."""
    total = 0
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, (str, bytes)):
            total += len(item)
        elif isinstance(item, (list, tuple, set, frozenset)):
            total += len(item)
            stack.extend(item)
        elif isinstance(item, dict):
            total += len(item)
            stack.extend(item.keys())
            stack.extend(item.values())
        if total > limit:
            break
    return total


def check_size(size: int, what: str) -> None:
    """Before an operation allocates a result of `size` (characters or items)."""
    if size > MAX_VALUE_CHARS:
        raise MappingLimit(
            f"{what} would make a value of {size:,} characters or items (the limit is {MAX_VALUE_CHARS:,})"
        )


def charge(value: Any, what: str) -> Any:
    """After an operation: count what it made against the entity's budgets; returns `value`."""
    size = deep_size(value)
    check_size(size, what)
    _budget.produced += size
    if _budget.produced > MAX_ENTITY_CHARS:
        raise MappingLimit(f"the mapping made more than {MAX_ENTITY_CHARS:,} characters for one entity ({what})")
    now = time.thread_time()
    if _budget.started is None:
        _budget.started = now
    elif now - _budget.started > MAX_ENTITY_CPU_S:
        raise MappingLimit(f"the mapping took more than {MAX_ENTITY_CPU_S:g} s of CPU for one entity ({what})")
    return value


def produced() -> int:
    """What this thread's entity has made so far (its budget since new_entity)."""
    return _budget.produced


_WIDTH = re.compile(r"%[-+ #0]*(\*|\d+)?(?:\.(\*|\d+))?")
_BRACE_WIDTH = re.compile(r"\{[^{}]*?:[^{}]*?(\d+)")


def check_percent_format(template: Any, what: str) -> None:
    """%-format: no `*` width and no width or precision past the value limit."""
    if not isinstance(template, str):
        return
    for width, precision in _WIDTH.findall(template):
        for part in (width, precision):
            if part == "*":
                raise MappingLimit(f"{what}: a '*' width is not allowed in a mapping")
            if part and int(part) > MAX_VALUE_CHARS:
                check_size(int(part), what)


_NESTED_SPEC = re.compile(r"\{[^{}]*:[^{}]*\{")


def check_brace_format(template: Any, what: str) -> None:
    """str.format: no width past the value limit, and no width taken from an argument ('{:{}}')."""
    if isinstance(template, str):
        if _NESTED_SPEC.search(template):
            raise MappingLimit(f"{what}: a width taken from an argument is not allowed in a mapping")
        for width in _BRACE_WIDTH.findall(template):
            check_size(int(width), what)


def check_repeat(left: Any, right: Any) -> None:
    """`sequence * n` (either order)."""
    for seq, times in ((left, right), (right, left)):
        if isinstance(times, int) and not isinstance(times, bool) and deep_size(seq):
            check_size(deep_size(seq) * max(times, 0), "repeating a value")


def check_power(base: Any, exponent: Any) -> None:
    if isinstance(base, int) and isinstance(exponent, int) and exponent > 0:
        bits = max(abs(base).bit_length(), 1) * exponent
        if bits > MAX_POWER_BITS:
            raise MappingLimit(f"a power of {bits:,} bits (the limit is {MAX_POWER_BITS:,})")


def checked_value(value: Any) -> Any:
    """A {% set %} value: within the value limit however it nests (or MappingLimit)."""
    check_size(deep_size(value), "a {% set %} value")
    return value


def checked_parts(parts: tuple[Any, ...]) -> tuple[Any, ...]:
    """The operands of `~`, before they are joined."""
    check_size(sum(deep_size(p) for p in parts), "'~'")
    return parts


def charged_parts(parts: Any) -> Any:
    """A template's output parts, each charged as it comes (several {{ }} in one template)."""
    for part in parts:
        yield charge(part, "the template's output")


_DATA_LEAVES = (str, int, float, bool, type(None))


def check_data(value: Any, what: str) -> None:
    """A mapped value is data a SCIM body can carry (text, numbers, booleans, lists and dicts of them),
    of bounded size: not a method, an Undefined inside a list, or a structure that renders exponentially."""
    check_size(deep_size(value), what)
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, (list, tuple)):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif not isinstance(item, _DATA_LEAVES):
            raise MappingLimit(f"{what}: the value holds a {type(item).__name__}, not data")


def _width_arg(args: tuple[Any, ...], kwargs: dict[str, Any], index: int, name: str) -> int:
    value = args[index] if len(args) > index else kwargs.get(name, 0)
    return value if isinstance(value, int) else 0


def _replaced_size(text: Any, old: Any, new: Any, count: Any = -1) -> int:
    if not isinstance(text, str) or not isinstance(old, str) or not isinstance(new, str):
        return 0
    found = (len(text) + 1) if old == "" else text.count(old)
    if isinstance(count, int) and count >= 0:
        found = min(found, count)
    return len(text) + found * max(len(new) - len(old), 0)


def _joined_size(separator: Any, items: Any) -> int:
    if not isinstance(separator, str) or not isinstance(items, (list, tuple)):
        return 0
    return len(separator) * max(len(items) - 1, 0) + sum(
        len(i) if isinstance(i, str) else 2 * deep_size(i) + 16 for i in items
    )


_STR_METHODS = frozenset(
    {
        "lower", "upper", "strip", "lstrip", "rstrip", "split", "rsplit", "splitlines", "startswith", "endswith",
        "title", "capitalize", "casefold", "swapcase", "count", "find", "rfind", "index", "rindex", "isalnum",
        "isalpha", "isascii", "isdecimal", "isdigit", "isidentifier", "islower", "isnumeric", "isprintable",
        "isspace", "istitle", "isupper", "partition", "rpartition", "removeprefix", "removesuffix", "encode",
        "replace", "join", "format", "format_map", "center", "ljust", "rjust", "zfill", "expandtabs",
    }
)  # fmt: skip


def check_str_method(name: str, text: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """A str method called from an expression ('x'.center(n), ...), before it runs: only the ones
    listed, each that can grow its text checked (translate, for one, is refused: its table can)."""
    what = f"str.{name}"
    if name not in _STR_METHODS:
        raise MappingLimit(f"{what} is not allowed in a mapping")
    if name in ("center", "ljust", "rjust", "zfill"):
        check_size(_width_arg(args, kwargs, 0, "width"), what)
    elif name == "expandtabs":
        check_size(len(text) + text.count("\t") * _width_arg(args, kwargs, 0, "tabsize"), what)
    elif name == "replace" and len(args) >= 2:
        check_size(_replaced_size(text, *args[:3]), what)
    elif name == "join" and args:
        check_size(_joined_size(text, args[0]), what)
    elif name in ("format", "format_map"):
        check_brace_format(text, what)


# The checks below see a filter's arguments without the context, environment or eval context jinja
# passes first to some filters (and to every filter it wraps for async use): the value comes first.


def _indented_size(args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
    text = args[0] if args else ""
    width = args[1] if len(args) > 1 else kwargs.get("width", 4)
    if not isinstance(text, str):
        return 0
    per_line = len(width) if isinstance(width, str) else (width if isinstance(width, int) else 0)
    return len(text) + (text.count("\n") + 1) * max(per_line, 0)


def _wrapped_size(args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
    text = args[0] if args else ""
    width = args[1] if len(args) > 1 else kwargs.get("width", 79)
    wrap = args[3] if len(args) > 3 else kwargs.get("wrapstring")
    if not isinstance(text, str):
        return 0
    pieces = len(text) // max(width if isinstance(width, int) else 1, 1) + 1
    return len(text) + pieces * (len(wrap) if isinstance(wrap, str) else 1)


def _without_context(args: tuple[Any, ...]) -> tuple[Any, ...]:
    return args[1:] if args and isinstance(args[0], (EvalContext, Environment, Context)) else args


def _value_arg(args: tuple[Any, ...]) -> Any:
    return args[0] if args else None


def _rendered(factor: int) -> Callable[[tuple[Any, ...], dict[str, Any]], int]:
    """A filter that renders its whole value as text, growing it by at most `factor` (escaping)."""
    return lambda a, k: deep_size(_value_arg(a)) * factor + 16


def _join_check(args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
    items = args[0] if args else None  # a list or tuple only: an iterator must not be consumed here
    return _joined_size(args[1] if len(args) > 1 else kwargs.get("d", ""), items)


# filters that can make a result larger than their inputs, and the size check run before each (the
# positions are jinja's: pass_eval_context and pass_environment filters get that first)
_FILTER_CHECKS: dict[str, Callable[[tuple[Any, ...], dict[str, Any]], int]] = {
    "center": lambda a, k: _width_arg(a, k, 1, "width"),
    "indent": _indented_size,
    "replace": lambda a, k: _replaced_size(*a[0:3]) if len(a) >= 3 else 0,
    "join": _join_check,
    "wordwrap": _wrapped_size,
    "string": _rendered(2),
    "pprint": _rendered(2),
    "tojson": _rendered(6),
    "forceescape": _rendered(6),
    "escape": _rendered(6),
    "e": _rendered(6),
    "urlencode": _rendered(3),
    "xmlattr": _rendered(6),
    "batch": lambda a, k: _width_arg(a, k, 1, "linecount"),
    "slice": lambda a, k: _width_arg(a, k, 1, "slices"),
}


# Filters over whole sequences: their CPU time grows with them, so each call checks the entity's time
# and charges its result (the string filters are linear in an input that is already bounded).
_SEQUENCE_FILTERS = frozenset(
    {
        "batch", "dictsort", "groupby", "list", "map", "max", "min", "reject", "rejectattr", "reverse",
        "select", "selectattr", "slice", "sort", "sum", "unique", "items", "tojson", "pprint",
    }
)  # fmt: skip
GROWING_FILTERS = frozenset({*_FILTER_CHECKS, "format", *_SEQUENCE_FILTERS})


def guarded_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """The filter, with its size check before (if it can grow its input) and its result charged after.
    jinja's pass_context/pass_environment marks are kept (functools.wraps copies them)."""
    check = _FILTER_CHECKS.get(name)
    what = f"the filter {name!r}"

    @wraps(func)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        if check is not None:
            check_size(check(_without_context(args), kwargs), what)
        if name == "format":
            check_percent_format(_value_arg(_without_context(args)), what)
        return charge(func(*args, **kwargs), what)

    return guarded


def bounded_lipsum(lipsum: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(lipsum)
    def guarded(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> Any:
        check_size(n * max * 10, "lipsum")
        return charge(lipsum(n, html, min, max), "lipsum")

    return guarded
