"""In-memory adapters: the embedded default, with no servers."""

from .audit_trail import InMemoryAuditTrail
from .decision_log import InMemoryDecisionLog
from .event_stream import InMemoryEventStream, InMemorySubscription
from .feature_state import InMemoryFeatureStateStore
from .governance_store import InMemoryGovernanceStore
from .online_store import InMemoryOnlineFeatureStore
from .registry_store import InMemoryRegistryStore
from .snapshot_state import ReadOnlyFeatureState, SnapshotFeatureState
from .worker_state import InMemoryWorkerState, RollbackUnsupported

__all__ = [
    "InMemoryAuditTrail",
    "InMemoryDecisionLog",
    "InMemoryEventStream",
    "InMemoryFeatureStateStore",
    "InMemoryGovernanceStore",
    "InMemoryOnlineFeatureStore",
    "InMemoryRegistryStore",
    "InMemorySubscription",
    "InMemoryWorkerState",
    "ReadOnlyFeatureState",
    "RollbackUnsupported",
    "SnapshotFeatureState",
]
