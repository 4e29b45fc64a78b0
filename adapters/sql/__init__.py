"""SQLAlchemy adapters: SQLite by default, PostgreSQL in production."""

from .audit_trail import ChainWriteConflict, SqlAuditTrail
from .decision_log import SqlDecisionLog
from .feature_history import SqlFeatureHistory
from .governance_store import SqlGovernanceStore

__all__ = [
    "ChainWriteConflict",
    "SqlAuditTrail",
    "SqlDecisionLog",
    "SqlFeatureHistory",
    "SqlGovernanceStore",
]
