"""What the local IAM check saw, per function: actions used, actions granted but never used, denials."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from syncjobs_local.iam import Call, LocalIam, translated
from syncjobs_local.iam_policy import actions_granted, matches


def report(iam: LocalIam, calls: list[Call]) -> dict[str, Any]:
    """{"checked", "denied", "functions": {name: {"used", "unused", "denied"}}} over `calls`."""
    functions: dict[str, Any] = {}
    for function in sorted(iam.roles):
        mine = [c for c in calls if c.function == function]
        used = sorted({c.action for c in mine if c.allowed})
        granted = iam.granted(function, managed=False)  # the managed policies are the runtime's, not the code's
        functions[function] = {
            "calls": len(mine),
            "used": used,
            # an action (or pattern) the template grants that no allowed call matched
            "unused": sorted(g for g in granted if not any(matches(g, u, True) for u in used)),
            "denied": sorted({f"{c.action} on {c.resource}" for c in mine if not c.allowed}),
        }
    return {
        "checked": len(calls),
        "denied": sum(1 for c in calls if not c.allowed),
        "functions": functions,
    }


def unused_by_suite(used: dict[str, set[str]], template: Path) -> dict[str, list[str]]:
    """Per function: what `template` grants (managed policies aside) that no call in `used` needed."""
    out = {}
    for function, role in translated(template).items():
        granted = actions_granted(role["statements"], managed=False)
        mine = used.get(function, set())
        out[function] = sorted(g for g in granted if not any(matches(g, u, True) for u in mine))
    return out


def summary(result: dict[str, Any]) -> str:
    """One line: `IAM: N calls checked against each function's policy, M denied`."""
    return f"IAM: {result['checked']} calls checked against each function's policy, {result['denied']} denied"


def write(result: dict[str, Any], path: Path) -> Path:
    path.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return path
