"""The stream worker: the single writer of the streaming feature state.

It reads transaction and label events from the event stream as one consumer of a
consumer group, applies them to the streaming feature engine's window state, writes
the resulting feature values to the online store and the offline history, and
acknowledges each entry once its effect is committed.
"""

from .materialize import FeatureMaterializer
from .ordering import EventTimeBuffer
from .processor import BatchProcessor, BatchResult, WorkerState
from .runner import StreamWorker, WorkerReport, WorkerSettings

__all__ = [
    "BatchProcessor",
    "BatchResult",
    "EventTimeBuffer",
    "FeatureMaterializer",
    "StreamWorker",
    "WorkerReport",
    "WorkerSettings",
    "WorkerState",
]
