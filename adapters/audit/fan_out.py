"""A decision log that writes each record to several logs, such as the reporting table
and the audit trail."""

from __future__ import annotations

from twinbank.core.decisions import DecisionRecord
from twinbank.core.ports import DecisionLog


class FanOutDecisionLog:
    """Appends every record to each log in order; ``count`` is the first log's count.

    A failure in one log propagates: the decision is then not reported as logged.
    """

    def __init__(self, primary: DecisionLog, *others: DecisionLog) -> None:
        self._logs = (primary, *others)

    def append(self, record: DecisionRecord) -> None:
        for log in self._logs:
            log.append(record)

    def flush(self) -> None:
        for log in self._logs:
            log.flush()

    def count(self) -> int:
        return self._logs[0].count()

    def close(self) -> None:
        """Close every log that can be closed (SQL logs release their connections)."""
        for log in self._logs:
            close = getattr(log, "close", None)
            if close is not None:
                close()
