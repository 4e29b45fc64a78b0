"""A call with a deadline, for readiness checks against servers that may hang.

A database that accepts connections and never responds would hold a readiness request,
and each probe after it, for as long as the socket stays open. ``BoundedCall`` runs
the call in a thread of its own and stops waiting at the deadline. The thread is left
to finish. While it runs, later calls start no other thread, so a hung server
occupies one thread, not one per probe.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

Result = TypeVar("Result")


class CallTimedOut(TimeoutError):
    """The call did not return within the deadline, or an earlier one still runs."""


class BoundedCall(Generic[Result]):
    """Runs ``call`` with a deadline of ``timeout_s``, one run at a time."""

    def __init__(self, name: str, call: Callable[[], Result], timeout_s: float) -> None:
        self._name = name
        self._call = call
        self._timeout = timeout_s
        self._lock = threading.Lock()
        self._running: _Run[Result] | None = None

    def __call__(self) -> Result:
        """Return the call's result or raise its exception.

        Raises CallTimedOut past the deadline, or at once while an earlier run goes on.
        """
        with self._lock:
            run = self._running
            if run is not None and not run.done.is_set():
                raise CallTimedOut(
                    f"{self._name} has not responded for {time.monotonic() - run.started:.0f} s"
                )
            run = _Run(self._call)
            self._running = run
            threading.Thread(target=run.execute, name=self._name, daemon=True).start()
        if not run.done.wait(self._timeout):
            raise CallTimedOut(f"{self._name} did not respond within {self._timeout:g} s")
        if run.error is not None:
            raise run.error
        return run.result  # type: ignore[return-value]


class _Run(Generic[Result]):
    def __init__(self, call: Callable[[], Result]) -> None:
        self.call = call
        self.started = time.monotonic()
        self.done = threading.Event()
        self.result: Result | None = None
        self.error: BaseException | None = None

    def execute(self) -> None:
        try:
            self.result = self.call()
        except BaseException as error:  # re-raised in the caller's thread
            self.error = error
        finally:
            self.done.set()
