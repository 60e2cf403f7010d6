"""Which admin API the CLI talks to: --api / SYNCJOBS_API, else a running `syncjobs local up`, else
the deployed stack's AdminApiUrl output (profile and region as the aws CLI takes them)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from syncjobs_cli.api import UNAVAILABLE, Api, CliError


def state_file() -> Path:
    return Path(os.environ.get("SYNCJOBS_HOME") or Path.home() / ".syncjobs") / "local.json"


def _local() -> str | None:
    path = state_file()
    if not path.exists():
        return None
    try:
        state = json.loads(path.read_text())
        os.kill(int(state["pid"]), 0)  # still running?
    except (ValueError, KeyError, ProcessLookupError, PermissionError):
        return None
    return str(state["api_url"])


def resolve(api_url: str | None, stack: str, profile: str | None, region: str | None) -> Api:
    if api_url:
        return Api(api_url)
    local = _local()
    if local:
        return Api(local)
    try:
        session = boto3.Session(profile_name=profile, region_name=region)
        outputs = session.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0].get("Outputs", [])
        credentials = session.get_credentials()
    except (BotoCoreError, ClientError) as err:
        raise CliError(
            f"no admin API: no local stack is running (`syncjobs local up`) and stack {stack!r} cannot be read "
            f"({err}); pass --api URL",
            UNAVAILABLE,
        ) from err
    url = next((o["OutputValue"] for o in outputs if o["OutputKey"] == "AdminApiUrl"), None)
    if url is None or credentials is None:
        raise CliError(f"stack {stack!r} has no AdminApiUrl output, or there are no AWS credentials", UNAVAILABLE)
    return Api(url, credentials, session.region_name or "us-east-1")
