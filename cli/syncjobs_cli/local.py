"""`syncjobs local up|upload|secret`: the local stack in the foreground, announced in a state file the
other commands read (.syncjobs/local.json in the directory it runs in), and your own data loaded into it.

A token never goes on a command line (the process list shows it to every user of the machine): the
local SCIM target's is written to a file only you may read, and `local secret` reads a token from a
file or stdin."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from syncjobs_cli.api import INVALID, UNAVAILABLE, CliError
from syncjobs_cli.endpoint import alive, running_local, state_dir
from syncjobs_cli.main import local_app
from syncjobs_cli.output import out

LOCAL_SECRET = "syncjobs/local/scim-token"  # noqa: S105 - a secret's name (the one `local up` suggests)


def _write_private(path: Path, text: str) -> None:
    """`text` in a file only this user may read (created so: never readable by others, even briefly)."""
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(text)


def serve(workdir: Path | None, console: Console) -> None:
    from syncjobs_local import function_logs
    from syncjobs_local.stack import LocalStack

    here = state_dir()
    if (running := alive(here / "local.json")) is not None:
        raise CliError(f"a local stack already runs here (pid {running['pid']}, {here / 'local.json'})", INVALID)
    here.mkdir(parents=True, exist_ok=True)
    folder = workdir or Path(tempfile.mkdtemp(prefix="syncjobs-local-"))
    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    path, token_file = here / "local.json", here / "scim-token"
    with function_logs.to_file(folder / "functions.log") as log_file, LocalStack(folder) as stack:
        assert stack.scim is not None
        assert stack.resources is not None
        parameters = stack.resources.resolver.parameters
        _write_private(token_file, stack.scim.token)
        state = {
            "pid": os.getpid(),
            "state": str(path),
            "api_url": stack.admin_api_url,
            "aws_endpoint_url": stack.moto_url,
            "scim_url": stack.scim.url,
            "scim_origin": stack.scim.origin,
            "scim_token_file": str(token_file),
            "source_bucket": parameters["SourceBucketName"],
            "secrets_prefix": parameters["SecretsPrefix"],
            "outbox": str(folder / "outbox"),
            "function_log": str(log_file),
        }
        path.write_text(json.dumps(state, indent=2))
        try:
            _announce(console, state)
            stopping.wait()
        finally:
            path.unlink(missing_ok=True)
            token_file.unlink(missing_ok=True)
    console.print("local stack stopped")


def _announce(console: Console, state: dict[str, Any]) -> None:
    """What runs where, and the next commands that load your own data into it."""
    print_ = console.print
    print_(f"[bold]syncjobs local stack[/bold] up (state {state['state']}; Ctrl-C stops it)", soft_wrap=True)
    print_(f"  admin API    {state['api_url']}", soft_wrap=True)
    print_(f"  local AWS    {state['aws_endpoint_url']} (moto); source bucket {state['source_bucket']}", soft_wrap=True)
    print_(f"  SCIM target  {state['scim_url']} (its token in {state['scim_token_file']})", soft_wrap=True)
    print_(f"  outbox       {state['outbox']}", soft_wrap=True)
    print_(f"  function log {state['function_log']}", soft_wrap=True)
    print_("Your own data, from this directory (or below it), in another terminal:")
    print_(
        f"  syncjobs local upload users.csv          # -> s3://{state['source_bucket']}/exports/users.csv",
        soft_wrap=True,
        highlight=False,
    )
    token_file = Path(state["scim_token_file"])
    with contextlib.suppress(ValueError):  # as a path from here, when it is below this directory
        token_file = token_file.relative_to(Path.cwd())
    print_(f"  syncjobs local secret {LOCAL_SECRET} --token-file {token_file}", soft_wrap=True)
    print_("  a job file (a copy of examples/jobs/hr-to-scim.yaml) with", highlight=False)
    print_(f"    source.bucket: {state['source_bucket']}   source.key: exports/users.csv", soft_wrap=True)
    print_(f"    target.base_url: {state['scim_url']}   target.token_secret: {LOCAL_SECRET}", soft_wrap=True)
    print_("  syncjobs jobs apply -f my-job.yaml; syncjobs run JOB --wait; syncjobs logs get RUN --outcome created")


def _require_local() -> dict[str, Any]:
    state = running_local()
    if state is None:
        raise CliError("no local stack runs here: start one with `syncjobs local up` (this directory)", UNAVAILABLE)
    return state


@contextlib.contextmanager
def _local_aws(state: dict[str, Any]) -> Iterator[None]:
    """boto3 calls inside go to the local stack's AWS (moto), with its credentials."""
    from syncjobs_local.stack import REGION

    saved = dict(os.environ)
    os.environ.pop("AWS_PROFILE", None)  # the local AWS takes the test credentials, never a profile's
    os.environ.update(
        AWS_ENDPOINT_URL=state["aws_endpoint_url"],
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",  # noqa: S106 - moto's fixed test credentials
        AWS_SESSION_TOKEN="testing",  # noqa: S106
        AWS_DEFAULT_REGION=REGION,
        AWS_REGION=REGION,
    )
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@local_app.command("upload")
def local_upload(
    file: Annotated[
        Path, typer.Argument(metavar="FILE", help="the export (a CSV file)", exists=True, dir_okay=False, readable=True)
    ],
    key: Annotated[
        str | None, typer.Option(metavar="KEY", help="its key in the source bucket (default: exports/FILE)")
    ] = None,
) -> None:
    """Upload an export to the local stack's source bucket; prints what a job's source names."""
    import boto3

    state = _require_local()
    key = key or f"exports/{file.name}"
    if not key or key.startswith("/"):
        raise CliError(f"--key {key!r}: an S3 key, without a leading /", INVALID)
    with _local_aws(state):
        boto3.client("s3").upload_file(str(file), state["source_bucket"], key)
    out.print(f"uploaded {file} to s3://{state['source_bucket']}/{key}", soft_wrap=True, highlight=False)
    out.print(f"in a job: source.bucket: {state['source_bucket']}, source.key: {key}", soft_wrap=True, highlight=False)


def _read_token(token_file: Path | None, token_stdin: bool) -> str:
    if (token_file is None) == (not token_stdin):
        raise CliError("give the token with exactly one of --token-file FILE and --token-stdin", INVALID)
    try:
        token = token_file.read_text(encoding="utf-8") if token_file is not None else sys.stdin.read()
    except (OSError, UnicodeDecodeError) as err:
        raise CliError(f"--token-file {token_file}: {err}", INVALID) from err
    token = token.rstrip("\r\n")
    if not token.strip():
        raise CliError(f"the token ({'--token-file ' + str(token_file) if token_file else 'stdin'}) is empty", INVALID)
    return token


@local_app.command("secret")
def local_secret(
    name: Annotated[
        str, typer.Argument(metavar="NAME", help="the secret's name, under the stack's SecretsPrefix (syncjobs/)")
    ],
    token_file: Annotated[
        Path | None, typer.Option(metavar="FILE", help="read the token from this file", dir_okay=False)
    ] = None,
    token_stdin: Annotated[bool, typer.Option("--token-stdin", help="read the token from stdin")] = False,
    destination: Annotated[
        list[str] | None,
        typer.Option(
            metavar="URL", help="a URL prefix the token may be sent to (repeat it; default: the local SCIM target)"
        ),
    ] = None,
) -> None:
    """Store a token in the local Secrets Manager, tagged with the URLs it may go to; a job names it.

    The tag is syncjobs:destinations (URL prefixes); a job names the secret in target.token_secret (or
    source.token_secret)."""
    from syncjobs.engine.destinations import DESTINATIONS_TAG
    from syncjobs_local.demo import store_token

    state = _require_local()
    prefix = state["secrets_prefix"]
    if not name.startswith(prefix) or name == prefix:
        raise CliError(f"secret name {name!r}: must start with the stack's SecretsPrefix {prefix!r}", INVALID)
    token = _read_token(token_file, token_stdin)
    destinations = destination or [state["scim_origin"]]
    for url in destinations:
        if not url.startswith(("https://", "http://")):
            raise CliError(f"--destination {url!r}: a URL prefix (https://...)", INVALID)
    with _local_aws(state):
        store_token(token, *destinations, name=name)
    out.print(f"secret {name} stored; {DESTINATIONS_TAG}: {' '.join(destinations)}", soft_wrap=True, highlight=False)
    out.print(f"in a job: target.token_secret: {name}", soft_wrap=True, highlight=False)
