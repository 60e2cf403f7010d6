"""Shared fixtures. One local stack (moto server, scim2-server, pollers) per test session, emptied
between tests: the handlers read their settings from the process environment, so two stacks
cannot run side by side in one process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from syncjobs_local.iam import ledger
from syncjobs_local.iam_report import unused_by_suite
from syncjobs_local.provision import TEMPLATE
from syncjobs_local.stack import LocalStack

# Per function, every action its allowed calls needed in this session (for the terminal summary).
_used: dict[str, set[str]] = {}


@pytest.fixture(autouse=True)
def _no_unexpected_denials(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fails a test during which a function made an AWS call its IAM policy does not allow
    (syncjobs_local/iam.py). A test that means to be denied says so: @pytest.mark.iam_denials."""
    ledger.clear()
    yield
    for call in ledger.calls():
        if call.allowed:
            _used.setdefault(call.function, set()).add(call.action)
    denied = ledger.denied()
    if denied and request.node.get_closest_marker("iam_denials") is None:
        lines = "\n".join(f"  {call}" for call in dict.fromkeys(denied))
        pytest.fail(f"{len(denied)} AWS call(s) denied by the acting function's IAM policy:\n{lines}")


@pytest.fixture(scope="session")
def _session_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    stack = LocalStack(tmp_path_factory.mktemp("local-stack"), pollers=False)
    stack.start()
    yield stack
    stack.stop()


@pytest.fixture
def aws(_session_stack: LocalStack) -> LocalStack:
    """Fresh template resources in the local AWS, no pollers: tests call handlers themselves."""
    _session_stack.reset(pollers=False)
    return _session_stack


@pytest.fixture
def shared_aws(_session_stack: LocalStack) -> LocalStack:
    """The local AWS as earlier tests left it (no moto reset: a reset and the template's provisioning
    cost seconds), no pollers, an empty SCIM target and empty shard queues. For tests that keep to a
    job, an export and runs of their own (the fault suite's hundred cases)."""
    _session_stack.refresh()
    return _session_stack


@pytest.fixture
def stack(_session_stack: LocalStack) -> Iterator[LocalStack]:
    """The whole local stack, pollers running, fresh resources and an empty SCIM target."""
    _session_stack.reset(pollers=True)  # a fresh outbox too
    yield _session_stack
    _session_stack.reset(pollers=False)


@pytest.fixture
def repo_root() -> Path:
    return Path(__file__).resolve().parents[1]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """After a session that ran functions: per function, what template.yaml grants that no call needed."""
    if not _used:
        return
    terminalreporter.section("IAM: granted in template.yaml, never needed by a call in this session")
    for function, unused in unused_by_suite(_used, TEMPLATE).items():
        terminalreporter.write_line(f"{function}: {', '.join(unused) or '-'}")
