"""The shape DESIGN.md asks for: only store/ talks to AWS; the layer ships what pyproject declares."""

import re
import subprocess
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_boto3_is_imported_only_under_store():
    out = subprocess.run(
        [
            "grep",
            "-rn",
            r"import boto3\|from boto3\|import botocore\|from botocore",
            "layers/core/syncjobs",
            "functions",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.splitlines()
    assert out, "grep found nothing at all: the check itself is broken"
    offenders = [line for line in out if not line.startswith("layers/core/syncjobs/store/")]
    assert offenders == []


def _normalise(requirement: str) -> str:
    return re.sub(r"\s+", "", requirement.lower())


def test_the_layer_requirements_match_the_package_dependencies():
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    shipped = [
        line
        for line in (ROOT / "layers/core/requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert sorted(map(_normalise, declared)) == sorted(map(_normalise, shipped))


def test_handlers_read_no_settings_at_import_time():
    for handler in ROOT.glob("functions/*/*_handler.py"):
        text = handler.read_text()
        assert "os.environ" not in text, handler
        assert "get_settings()" not in text.split("def ")[0], handler
