"""Turn pydantic validation errors into messages that name the field."""

from __future__ import annotations

import re

from pydantic import ValidationError

# A model-level check names its field at the start of its message: "mapping.users.userName: ..."
_NAMED = re.compile(r"^Value error, ([A-Za-z_][\w.]*): (.*)$", re.DOTALL)
# pydantic puts the tag of a discriminated union into the path (source.csv_s3.bucket); admins wrote
# source.bucket, so the tag is dropped.
_UNION_TAGS = {"source": {"csv_s3", "scim"}}


def describe(err: ValidationError) -> list[str]:
    """One line per problem, `field.path: message`, in the order pydantic found them."""
    lines = []
    for problem in err.errors():
        parts = [str(part) for part in problem["loc"] if not str(part).startswith("function-")]
        if len(parts) > 1 and parts[1] in _UNION_TAGS.get(parts[0], ()):
            del parts[1]
        message = problem["msg"]
        if problem["type"] == "union_tag_invalid":
            parts.append(str(problem["ctx"]["discriminator"]).strip("'"))
            message = f"must be one of {problem['ctx']['expected_tags']} (got {problem['ctx']['tag']!r})"
        path = ".".join(parts)
        if not path and (named := _NAMED.match(message)):
            path, message = named.group(1), named.group(2)
        lines.append(f"{path or '(document)'}: {message}")
    return lines
