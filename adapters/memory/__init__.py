"""In-memory adapters: the embedded default, with no servers."""

from .feature_state import InMemoryFeatureStateStore

__all__ = ["InMemoryFeatureStateStore"]
