"""The committed OpenAPI document is the one the admin API's routes and models generate."""

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "infra" / "tools" / "openapi.py"


def test_the_committed_openapi_document_is_current():
    spec = importlib.util.spec_from_file_location("openapi_tool", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    assert tool.TARGET.read_text() == tool.generate(), "docs/openapi.json is stale: run `make openapi`"
