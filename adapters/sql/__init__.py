"""SQLAlchemy adapters: SQLite by default, PostgreSQL in production."""

from .decision_log import SqlDecisionLog
from .feature_history import SqlFeatureHistory

__all__ = ["SqlDecisionLog", "SqlFeatureHistory"]
