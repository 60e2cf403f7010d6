"""IAM identity-policy evaluation: explicit Deny wins, then any Allow, else the implicit deny.

Actions match case-insensitively with `*` and `?`; resources case-sensitively. Conditions: the String*,
Bool and Null operators (with IfExists, ForAnyValue:/ForAllValues: on single values) over the condition
keys iam_actions gives each call. An operator or key this module cannot evaluate makes an Allow not
apply and a Deny apply: the local check errs towards refusing, never towards granting.
"""

from __future__ import annotations

import fnmatch
import re
from functools import cache
from typing import Any

from syncjobs_local.iam_actions import Check

Statement = dict[str, Any]


@cache
def _pattern(glob: str, ignore_case: bool) -> re.Pattern[str]:
    # fnmatch's [..] classes are not IAM's: escape them, keep * and ?
    regex = fnmatch.translate(glob.replace("[", "\x00").replace("]", "\x01"))
    regex = regex.replace("\x00", r"\[").replace("\x01", r"\]")
    return re.compile(regex, re.IGNORECASE if ignore_case else 0)


def matches(glob: str, value: str, ignore_case: bool = False) -> bool:
    return bool(_pattern(glob, ignore_case).match(value))


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


_OPERATORS = {
    "StringEquals",
    "StringNotEquals",
    "StringEqualsIgnoreCase",
    "StringNotEqualsIgnoreCase",
    "StringLike",
    "StringNotLike",
    "Bool",
    "Null",
}


def _string_op(base: str, pattern: str, value: str) -> bool:
    if base in {"StringEquals", "StringNotEquals"}:
        return pattern == value
    if base in {"StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase"}:
        return pattern.lower() == value.lower()
    if base in {"StringLike", "StringNotLike"}:
        return matches(pattern, value)
    return pattern.lower() == value.lower()  # Bool


def _condition_holds(operator: str, key: str, patterns: list[Any], keys: dict[str, str]) -> bool | None:
    """True/False, or None when this module cannot evaluate it."""
    op = operator.split(":", 1)[-1]  # ForAnyValue:/ForAllValues: on a single value
    if_exists = op.endswith("IfExists")
    base = op.removesuffix("IfExists")
    if base not in _OPERATORS:
        return None
    if base == "Null":
        return (key not in keys) == (str(patterns[0]).lower() == "true")
    negated = "Not" in base
    if key not in keys:
        return if_exists or negated
    hit = any(_string_op(base, str(p), keys[key]) for p in patterns)
    return not hit if negated else hit


def _conditions(statement: Statement, keys: dict[str, str]) -> bool | None:
    for operator, block in statement.get("Condition", {}).items():
        for key, patterns in block.items():
            holds = _condition_holds(operator, key, _as_list(patterns), keys)
            if holds is not True:
                return holds
    return True


def applies(statement: Statement, check: Check) -> bool:
    """Whether `statement` covers the check: action, resource and conditions (see module doc)."""
    if "Action" in statement:
        if not any(matches(a, check.action, True) for a in _as_list(statement["Action"])):
            return False
    elif not all(not matches(a, check.action, True) for a in _as_list(statement.get("NotAction", []))):
        return False
    if "Resource" in statement:
        if not any(matches(r, check.resource) for r in _as_list(statement["Resource"])):
            return False
    elif any(matches(r, check.resource) for r in _as_list(statement.get("NotResource", []))):
        return False
    holds = _conditions(statement, check.keys)
    if holds is None:
        return statement.get("Effect") == "Deny"
    return holds


def allowed(statements: list[Statement], check: Check) -> bool:
    hits = [s for s in statements if applies(s, check)]
    if any(s.get("Effect") == "Deny" for s in hits):
        return False
    return any(s.get("Effect") == "Allow" for s in hits)


def actions_granted(statements: list[Statement], managed: bool = True) -> set[str]:
    """The actions the Allow statements name (as written, wildcards kept); `managed=False` leaves out
    the managed policies' (iam_policies.py marks them `Sid: Managed`)."""
    return {
        a
        for s in statements
        if s.get("Effect") == "Allow" and (managed or s.get("Sid") != "Managed")
        for a in _as_list(s.get("Action", []))
    }
