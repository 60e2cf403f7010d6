"""Turn pydantic validation errors into messages that name the field."""

from __future__ import annotations

import re

from pydantic import ValidationError

# A model-level check names its field at the start of its message: "mapping.users.userName: ..."
_NAMED = re.compile(r"^Value error, ([A-Za-z_][\w.]*): (.*)$", re.DOTALL)


def describe(err: ValidationError) -> list[str]:
    """One line per problem, `field.path: message`, in the order pydantic found them."""
    lines = []
    for problem in err.errors():
        path = ".".join(str(part) for part in problem["loc"] if not str(part).startswith("function-"))
        message = problem["msg"]
        if not path and (named := _NAMED.match(message)):
            path, message = named.group(1), named.group(2)
        lines.append(f"{path or '(document)'}: {message}")
    return lines
