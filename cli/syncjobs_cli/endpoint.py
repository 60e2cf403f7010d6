"""Which admin API the CLI talks to: --api / SYNCJOBS_API, else a running `syncjobs local up` (of this
directory or a parent), else the deployed stack's AdminApiUrl output (profile and region as the aws
CLI takes them)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from syncjobs_cli.api import UNAVAILABLE, Api, CliError

STATE_DIR = ".syncjobs"  # in the directory `syncjobs local up` ran in


def state_dir() -> Path:
    """Where `syncjobs local up` announces its stack: $SYNCJOBS_HOME, else .syncjobs in this directory
    (one local stack per working directory)."""
    home = os.environ.get("SYNCJOBS_HOME")
    return Path(home) if home else Path.cwd() / STATE_DIR


def state_file() -> Path:
    return state_dir() / "local.json"


def alive(path: Path) -> dict[str, Any] | None:
    """The state a state file holds, if its stack still runs."""
    try:
        state = json.loads(path.read_text())
        os.kill(int(state["pid"]), 0)  # still running?
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return dict(state)


def running_local() -> dict[str, Any] | None:
    """The running local stack the commands run here use: $SYNCJOBS_HOME's, else the nearest
    .syncjobs/local.json of this directory and its parents whose stack still runs."""
    if os.environ.get("SYNCJOBS_HOME"):
        return alive(state_file())
    here = Path.cwd()
    for folder in (here, *here.parents):
        state = alive(folder / STATE_DIR / "local.json")
        if state is not None:
            return state
    return None


def _local() -> str | None:
    state = running_local()
    return None if state is None else str(state["api_url"])


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
            f"no admin API: no local stack runs here (`syncjobs local up` in this directory or a parent) and stack "
            f"{stack!r} cannot be read "
            f"({err}); pass --api URL",
            UNAVAILABLE,
        ) from err
    url = next((o["OutputValue"] for o in outputs if o["OutputKey"] == "AdminApiUrl"), None)
    if url is None or credentials is None:
        raise CliError(f"stack {stack!r} has no AdminApiUrl output, or there are no AWS credentials", UNAVAILABLE)
    return Api(url, credentials, session.region_name or "us-east-1")
