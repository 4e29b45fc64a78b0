"""The placement of the journal forwarders: threads of the decision service, or a process
of their own.

At 500 decisions/s the forwarders held the service's interpreter lock for about a
third of the time (decoding records, database inserts and commits, publishing to the
event stream; BENCHMARKS.md), and every request waited behind them for the lock. In a
process of their own (``twinbank forward``, which ``twinbank serve`` starts, watches and
restarts), that work runs beside the requests. The process follows the journal on disk
and writes its forwarders' status to a file in the journal folder four times a second.
The service reads that file for ``/readyz`` and ``/metrics``.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Protocol

from twinbank.adapters.journal import ForwarderStatus, JournalForwarder

log = logging.getLogger(__name__)

STATUS_FILE = "forwarding-status.json"
REPORT_INTERVAL_S = 0.25
SILENT_AFTER_S = 5.0


class Forwarding(Protocol):
    """The journal forwarders as the service starts, stops and reports them."""

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def statuses(self) -> list[ForwarderStatus]: ...


class ForwarderThreads:
    """Forwarders running as threads of the service."""

    def __init__(self, forwarders: Sequence[JournalForwarder]) -> None:
        self._forwarders = list(forwarders)

    def start(self) -> None:
        for forwarder in self._forwarders:
            forwarder.start()

    def stop(self) -> None:
        for forwarder in self._forwarders:
            forwarder.stop()

    def statuses(self) -> list[ForwarderStatus]:
        return [forwarder.status() for forwarder in self._forwarders]


def write_status(path: Path, statuses: Sequence[ForwarderStatus]) -> None:
    """Replace the status file atomically with the forwarders' statuses and the time."""
    document = {
        "pid": os.getpid(),
        "written_at": time.time(),
        "forwarders": [asdict(status) for status in statuses],
    }
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(document), "utf-8")
    temporary.replace(path)


def read_status(path: Path) -> tuple[float, list[ForwarderStatus]] | None:
    """Return the time the status file was written and its statuses, or None when it
    does not exist or cannot be read."""
    try:
        document = json.loads(path.read_text("utf-8"))
        return float(document["written_at"]), [
            ForwarderStatus(**status) for status in document["forwarders"]
        ]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def run_forwarders(
    forwarders: Sequence[JournalForwarder],
    status_path: Path,
    stop: threading.Event,
    parent_pid: int | None = None,
    drain_timeout_s: float = 5.0,
) -> None:
    """Run the forwarders and report their statuses until ``stop`` is set or the parent
    process is gone; then forward what the sinks accept within ``drain_timeout_s``.

    A status that cannot be taken (a corrupt journal) is reported as unhealthy, and a
    status file that cannot be written (a full disk) is logged. Neither stops the
    forwarders, because a restart would meet the same problem."""
    for forwarder in forwarders:
        forwarder.start()
    report = _StatusReport(status_path)
    report.write(forwarders)
    while not stop.wait(REPORT_INTERVAL_S):
        report.write(forwarders)
        if parent_pid is not None and os.getppid() != parent_pid:
            log.warning(
                "parent decision service (pid %d) not found; stopping the forwarders", parent_pid
            )
            break
    deadline = time.monotonic() + drain_timeout_s
    for forwarder in forwarders:
        try:
            forwarder.stop(max(0.0, deadline - time.monotonic()))
        except Exception as error:  # the journal cannot be followed any more
            log.error("forwarder %s did not drain: %r", forwarder.name, error)
    report.write(forwarders)


class _StatusReport:
    """A writer of the status file that logs when writing starts or stops failing."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._failing = False

    def write(self, forwarders: Sequence[JournalForwarder]) -> None:
        statuses = [_status_of(forwarder) for forwarder in forwarders]
        try:
            write_status(self._path, statuses)
        except OSError as error:
            if not self._failing:
                log.error(
                    "failed to write forwarding status %s (%s); the service will report "
                    "the forwarders as silent",
                    self._path,
                    error,
                )
            self._failing = True
            return
        if self._failing:
            log.info("forwarding status %s written again", self._path)
        self._failing = False


def _status_of(forwarder: JournalForwarder) -> ForwarderStatus:
    try:
        return forwarder.status()
    except Exception as error:  # the journal cannot be followed (a corrupt segment)
        return ForwarderStatus(forwarder.name, False, 0, 0, 0, f"{type(error).__name__}: {error}")


class ForwarderProcess:
    """The ``twinbank forward`` child process, started again whenever it exits.

    ``start`` waits until the child has reported once, so that a service that accepts
    requests has its forwarders running. A child that exits is started again after a
    pause that doubles from ``restart_initial_s`` up to ``restart_max_s``, and the
    records wait in the journal meanwhile.
    """

    def __init__(
        self,
        command: Sequence[str],
        status_path: Path,
        names: Sequence[str],
        start_timeout_s: float = 60.0,
        stop_timeout_s: float = 15.0,
        restart_initial_s: float = 0.5,
        restart_max_s: float = 30.0,
        kill_after_silent_s: float = 60.0,
    ) -> None:
        self._command = list(command)
        self._status_path = status_path
        self._names = list(names)
        self._start_timeout = start_timeout_s
        self._stop_timeout = stop_timeout_s
        self._restart_initial = restart_initial_s
        self._restart_max = restart_max_s
        self._kill_after_silent = kill_after_silent_s
        self._spawned_at = 0.0
        self._stopping = threading.Event()
        self._process: subprocess.Popen[bytes] | None = None
        self._supervisor: threading.Thread | None = None
        self._exits = 0

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def start(self) -> None:
        self._spawn()
        self._await_first_report()
        self._supervisor = threading.Thread(
            target=self._supervise, name="forwarding-supervisor", daemon=True
        )
        self._supervisor.start()

    def stop(self) -> None:
        """Ask the child to drain and stop (SIGTERM); kill it after ``stop_timeout_s``."""
        self._stopping.set()
        if self._supervisor is not None:
            self._supervisor.join()
        process = self._process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(self._stop_timeout)
        except subprocess.TimeoutExpired:
            log.error(
                "forwarding process (pid %d) did not stop within %.0f s; killing it",
                process.pid,
                self._stop_timeout,
            )
            process.kill()
            process.wait()
        log.info("forwarding process (pid %d) stopped", process.pid)

    def statuses(self) -> list[ForwarderStatus]:
        """Return the child's last report, marked unhealthy while the child is not
        running or has not reported for ``SILENT_AFTER_S``."""
        report = read_status(self._status_path)
        reported = {} if report is None else {status.name: status for status in report[1]}
        problem = self._problem(None if report is None else report[0])
        statuses = []
        for name in self._names:
            status = reported.get(
                name,
                ForwarderStatus(name, False, 0, 0, 0, "the forwarding process does not run it"),
            )
            if problem is not None:
                status = ForwarderStatus(
                    name, False, status.backlog, status.forwarded, status.failures, problem
                )
            statuses.append(status)
        return statuses

    def _problem(self, written_at: float | None) -> str | None:
        process = self._process
        if process is None or self._stopping.is_set():
            return "the forwarding process is not running"
        if process.poll() is not None:
            return (
                f"the forwarding process (pid {process.pid}) exited with code "
                f"{process.returncode}; it is started again"
            )
        if written_at is None:
            return "the forwarding process has not reported yet"
        silent = time.time() - written_at
        if silent > SILENT_AFTER_S:
            return f"the forwarding process has not reported for {silent:.0f} s"
        return None

    def _spawn(self) -> None:
        # The previous child's report is removed, so that it is not read as this one's.
        self._status_path.unlink(missing_ok=True)
        # A session of its own keeps the terminal's Ctrl-C from the child, so the service
        # stops it after its own requests have ended.
        self._process = subprocess.Popen(self._command, start_new_session=True)
        self._spawned_at = time.time()
        log.info("forwarding process started (pid %d)", self._process.pid)

    def _await_first_report(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + self._start_timeout
        while read_status(self._status_path) is None:
            if self._process.poll() is not None:
                return  # the supervisor logs the exit and starts it again
            if time.monotonic() > deadline:
                log.error(
                    "forwarding process (pid %d) has not reported within %.0f s; "
                    "decisions wait in the journal",
                    self._process.pid,
                    self._start_timeout,
                )
                return
            time.sleep(0.05)

    def _kill_if_silent(self) -> None:
        """SIGKILL the child when neither its start nor its last report is recent."""
        assert self._process is not None
        report = read_status(self._status_path)
        last_sign = self._spawned_at if report is None else max(self._spawned_at, report[0])
        silent = time.time() - last_sign
        if silent > self._kill_after_silent:
            log.error(
                "forwarding process (pid %d) sent no report for %.0f s; killing it so that "
                "it is started again",
                self._process.pid,
                silent,
            )
            self._process.kill()
            self._process.wait()

    def _supervise(self) -> None:
        delay = self._restart_initial
        while not self._stopping.is_set():
            assert self._process is not None
            started = time.monotonic()
            while self._process.poll() is None:
                if self._stopping.wait(0.2):
                    return
                self._kill_if_silent()
            self._exits += 1
            if time.monotonic() - started > self._restart_max:
                delay = self._restart_initial  # it ran long enough to count as healthy
            log.error(
                "forwarding process (pid %d) exited with code %s (%d exits so far); "
                "starting it again in %.1f s",
                self._process.pid,
                self._process.returncode,
                self._exits,
                delay,
            )
            if self._stopping.wait(delay):
                return
            delay = min(self._restart_max, delay * 2)
            self._spawn()
