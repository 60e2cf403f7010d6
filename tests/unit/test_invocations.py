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


def test_every_invocation_records_its_duration_and_no_memory_unless_asked():
    log = InvocationLog()
    run_with_timeout("F", "r4", 5, lambda: None, log)
    [done] = log.done
    assert (done.function, done.request_id, done.timed_out, done.peak_bytes) == ("F", "r4", False, None)
    assert done.seconds >= 0


def test_a_measured_invocation_records_the_heap_peak_of_what_it_allocated():
    # Given a log that measures F's memory, and a handler that holds 8 MB for a moment
    log = InvocationLog(measure_memory=lambda function: function == "F")

    def allocate() -> int:
        block = bytearray(8 * 1024 * 1024)
        return len(block)

    # When it runs / Then its peak holds the 8 MB, and an unmeasured function's does not exist
    run_with_timeout("F", "r5", 5, allocate, log)
    run_with_timeout("G", "r6", 5, allocate, log)
    peaks = {d.request_id: d.peak_bytes for d in log.done}
    assert peaks["r5"] is not None
    assert peaks["r5"] >= 8 * 1024 * 1024
    assert peaks["r6"] is None


def test_a_measured_invocation_runs_alone():
    # Given an unmeasured invocation running until released
    log = InvocationLog(measure_memory=lambda function: function == "M")
    release, running = threading.Event(), threading.Event()
    order: list[str] = []

    def slow() -> None:
        running.set()
        release.wait(5)
        order.append("slow ended")

    other = threading.Thread(target=run_with_timeout, args=("S", "r7", 5, slow, log))
    other.start()
    running.wait(5)
    # When a measured invocation is asked for meanwhile, it starts only after the other has ended
    measured = threading.Thread(target=run_with_timeout, args=("M", "r8", 5, lambda: order.append("measured ran"), log))
    measured.start()
    release.set()
    other.join(5)
    measured.join(5)
    assert order == ["slow ended", "measured ran"]
