"""Redis adapters: the event stream on Redis Streams and the streaming window state."""

from .event_stream import RedisEventStream, RedisSubscription
from .feature_state import (
    FeatureSetConflict,
    LeaseLost,
    RedisFeatureStateReader,
    RedisFeatureStateStore,
    StateKeys,
)
from .history_codec import CorruptHistory, decode_history, encode_history

__all__ = [
    "CorruptHistory",
    "FeatureSetConflict",
    "LeaseLost",
    "RedisEventStream",
    "RedisFeatureStateReader",
    "RedisFeatureStateStore",
    "RedisSubscription",
    "StateKeys",
    "decode_history",
    "encode_history",
]
