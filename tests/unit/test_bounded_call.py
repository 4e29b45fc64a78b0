"""A readiness call with a deadline: its result, its error, and a call that hangs."""

from __future__ import annotations

import threading
import time

import pytest

from twinbank.entrypoints.http.bounded import BoundedCall, CallTimedOut


def test_bounded_call_returns_result():
    assert BoundedCall("inventory", lambda: 42, timeout_s=1.0)() == 42


def test_bounded_call_raises_call_error():
    def fail() -> int:
        raise LookupError("no such model")

    with pytest.raises(LookupError, match="no such model"):
        BoundedCall("inventory", fail, timeout_s=1.0)()


def test_bounded_call_times_out_when_hung():
    """A hung call times out and occupies one thread until it returns."""
    release = threading.Event()
    calls = []

    def hang() -> str:
        calls.append(1)
        release.wait(10)
        return "answered"

    bounded = BoundedCall("inventory", hang, timeout_s=0.2)
    started = time.monotonic()
    with pytest.raises(CallTimedOut, match=r"did not respond within 0\.2 s"):
        bounded()
    assert time.monotonic() - started < 2

    with pytest.raises(CallTimedOut, match="has not responded for"):
        bounded()  # the first call still runs, so no second thread starts
    assert len(calls) == 1

    release.set()
    deadline = time.monotonic() + 5
    while True:
        try:
            assert bounded() == "answered"
            break
        except CallTimedOut:
            assert time.monotonic() < deadline
            time.sleep(0.02)
    assert len(calls) == 2
