"""The local stack's Lambda Timeout: a handler past its deadline is stopped and reported; one that
ends in time returns its result or raises its error."""

import threading

import pytest

from syncjobs_local.invocations import InvocationLog, InvocationTimedOut, run_with_timeout


def test_a_handler_that_ends_in_time_returns_its_result():
    log = InvocationLog()
    assert run_with_timeout("F", "r1", 5, lambda: 42, log) == 42
    assert log.killed == []


def test_a_handler_error_reaches_the_caller():
    def fail() -> None:
        raise ValueError("bad event")

    with pytest.raises(ValueError, match="bad event"):
        run_with_timeout("F", "r2", 5, fail, InvocationLog())


def test_a_handler_past_its_timeout_is_stopped_and_recorded():
    # Given a handler that never returns on its own
    stopped = threading.Event()

    def forever() -> None:
        try:
            while True:
                pass
        finally:
            stopped.set()

    log = InvocationLog()
    # When its deadline passes, then the caller hears of it, the kill is recorded and the thread stops
    with pytest.raises(InvocationTimedOut, match=r"Task timed out after 0\.20 seconds"):
        run_with_timeout("F", "r3", 0.2, forever, log)
    assert [k.request_id for k in log.killed] == ["r3"]
    assert "invocations.py" in log.killed[0].where  # where the handler was when it was stopped
    assert stopped.wait(5)
