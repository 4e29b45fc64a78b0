"""SQLAlchemy adapters: SQLite by default, PostgreSQL in production."""

from .decision_log import SqlDecisionLog

__all__ = ["SqlDecisionLog"]
