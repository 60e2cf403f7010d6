"""Write the admin API's OpenAPI document (docs/openapi.json), generated from the handler's routes and
models by Powertools. `make openapi` runs it; tests/unit/test_openapi.py fails when it is stale."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
TARGET = ROOT / "docs" / "openapi.json"


def generate() -> str:
    sys.path.insert(0, str(ROOT / "functions" / "admin_api"))
    import admin_api_handler

    schema = admin_api_handler.app.get_openapi_json_schema(
        title="syncjobs admin API",
        version="1",
        description=(
            "Jobs, runs, subscriptions, schedules, collections and approval requests. Behind API Gateway "
            "with IAM (SigV4) auth. Every refusal is JSON: `message`, and for invalid input `problems`, "
            "each naming its field."
        ),
    )
    return json.dumps(without_unused_schemas(json.loads(schema)), indent=2, sort_keys=True) + "\n"


# Powertools adds its own error bodies to every document; the admin API answers with its own (Refusal,
# InvalidRequest), so these are dropped when no operation refers to them.
POWERTOOLS_ERRORS = ("HTTPValidationError", "ValidationError", "ResponseValidationError")


def without_unused_schemas(document: dict[str, Any]) -> dict[str, Any]:
    schemas = document.get("components", {}).get("schemas", {})
    for name in POWERTOOLS_ERRORS:
        others = {key: value for key, value in schemas.items() if key != name}
        if f'"#/components/schemas/{name}"' not in json.dumps({**document, "components": {"schemas": others}}):
            schemas.pop(name, None)
    return document


if __name__ == "__main__":
    TARGET.write_text(generate())
    print(f"wrote {TARGET.relative_to(ROOT)}")
