"""`syncjobs local up`: the local stack in the foreground, announced in a state file the CLI reads."""

from __future__ import annotations

import json
import os
import signal
import tempfile
import threading
from pathlib import Path

from rich.console import Console

from syncjobs_cli.endpoint import state_file


def serve(workdir: Path | None, console: Console) -> None:
    from syncjobs_local.stack import LocalStack

    folder = workdir or Path(tempfile.mkdtemp(prefix="syncjobs-local-"))
    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    with LocalStack(folder) as stack:
        assert stack.scim is not None
        path = state_file()
        path.parent.mkdir(parents=True, exist_ok=True)
        state = {
            "pid": os.getpid(),
            "api_url": stack.admin_api_url,
            "aws_endpoint_url": stack.moto_url,
            "scim_url": stack.scim.url,
            "outbox": str(folder / "outbox"),
        }
        path.write_text(json.dumps(state, indent=2))
        console.print(f"[bold]syncjobs local stack[/bold] up: admin API {stack.admin_api_url}")
        console.print(f"  local AWS (moto) {stack.moto_url}; SCIM target {stack.scim.url}")
        console.print(f"  outbox {folder / 'outbox'}; state {path}. Ctrl-C stops it.")
        try:
            stopping.wait()
        finally:
            path.unlink(missing_ok=True)
    console.print("local stack stopped")
