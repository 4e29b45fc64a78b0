"""In-memory adapters: the embedded default, with no servers."""

from .decision_log import InMemoryDecisionLog
from .feature_state import InMemoryFeatureStateStore

__all__ = ["InMemoryDecisionLog", "InMemoryFeatureStateStore"]
