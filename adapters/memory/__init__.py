"""In-memory adapters: the embedded default, with no servers."""

from .decision_log import InMemoryDecisionLog
from .event_stream import InMemoryEventStream, InMemorySubscription
from .feature_state import InMemoryFeatureStateStore
from .online_store import InMemoryOnlineFeatureStore
from .snapshot_state import ReadOnlyFeatureState, SnapshotFeatureState
from .worker_state import InMemoryWorkerState, RollbackUnsupported

__all__ = [
    "InMemoryDecisionLog",
    "InMemoryEventStream",
    "InMemoryFeatureStateStore",
    "InMemoryOnlineFeatureStore",
    "InMemorySubscription",
    "InMemoryWorkerState",
    "ReadOnlyFeatureState",
    "RollbackUnsupported",
    "SnapshotFeatureState",
]
