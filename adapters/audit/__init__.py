"""Adapters around the audit trail: the local archive and the decision-log fan-out."""

from .fan_out import FanOutDecisionLog
from .local_archive import InvalidArchive, LocalDirectoryArchive

__all__ = ["FanOutDecisionLog", "InvalidArchive", "LocalDirectoryArchive"]
