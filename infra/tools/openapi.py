"""Write the admin API's OpenAPI document (docs/openapi.json), generated from the handler's routes and
models by Powertools. `make openapi` runs it; tests/unit/test_openapi.py fails when it is stale."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TARGET = ROOT / "docs" / "openapi.json"


def generate() -> str:
    sys.path.insert(0, str(ROOT / "functions" / "admin_api"))
    import admin_api_handler

    schema = admin_api_handler.app.get_openapi_json_schema(
        title="syncjobs admin API",
        version="1",
        description="Jobs, runs, schedules and subscriptions. Behind API Gateway with IAM (SigV4) auth.",
    )
    return json.dumps(json.loads(schema), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    TARGET.write_text(generate())
    print(f"wrote {TARGET.relative_to(ROOT)}")
