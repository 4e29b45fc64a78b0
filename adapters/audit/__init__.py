"""Adapters around the audit trail: the local archive, the decision-log fan-out and
the decision writer process."""

from .fan_out import FanOutDecisionLog
from .local_archive import InvalidArchive, LocalDirectoryArchive
from .writer_process import DecisionLogFailed, DecisionLogProcess

__all__ = [
    "DecisionLogFailed",
    "DecisionLogProcess",
    "FanOutDecisionLog",
    "InvalidArchive",
    "LocalDirectoryArchive",
]
