"""Turn pydantic validation errors into messages that name the field."""

from __future__ import annotations

from pydantic import ValidationError


def describe(err: ValidationError) -> list[str]:
    """One line per problem, `field.path: message`, in the order pydantic found them."""
    lines = []
    for problem in err.errors():
        path = ".".join(str(part) for part in problem["loc"] if not str(part).startswith("function-"))
        lines.append(f"{path or '(document)'}: {problem['msg']}")
    return lines
