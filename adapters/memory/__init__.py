"""In-memory adapters: the embedded default, with no servers."""

from .audit_trail import InMemoryAuditTrail
from .decision_log import InMemoryDecisionLog
from .feature_state import InMemoryFeatureStateStore
from .governance_store import InMemoryGovernanceStore

__all__ = [
    "InMemoryAuditTrail",
    "InMemoryDecisionLog",
    "InMemoryFeatureStateStore",
    "InMemoryGovernanceStore",
]
