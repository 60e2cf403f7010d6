"""What the local IAM check saw, per function: actions used, actions granted but never used, denials."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from syncjobs_local.iam import Call, LocalIam
from syncjobs_local.iam_policy import matches


def report(iam: LocalIam, calls: list[Call]) -> dict[str, Any]:
    """{"checked", "denied", "functions": {name: {"used", "unused", "denied"}}} over `calls`."""
    functions: dict[str, Any] = {}
    for function in sorted(iam.roles):
        mine = [c for c in calls if c.function == function]
        used = sorted({c.action for c in mine if c.allowed})
        granted = iam.granted(function)
        functions[function] = {
            "calls": len(mine),
            "used": used,
            # a granted action (or pattern) no allowed call matched; logs/xray are the runtime's, not the code's
            "unused": sorted(
                g
                for g in granted
                if not any(matches(g, u, True) for u in used) and not g.startswith(("logs:", "xray:"))
            ),
            "denied": sorted({f"{c.action} on {c.resource}" for c in mine if not c.allowed}),
        }
    return {
        "checked": len(calls),
        "denied": sum(1 for c in calls if not c.allowed),
        "functions": functions,
    }


def summary(result: dict[str, Any]) -> str:
    """One line: `IAM: N calls checked against each function's policy, M denied`."""
    return f"IAM: {result['checked']} calls checked against each function's policy, {result['denied']} denied"


def write(result: dict[str, Any], path: Path) -> Path:
    path.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return path
