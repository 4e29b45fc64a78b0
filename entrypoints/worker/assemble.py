"""Build a stream worker from the composition root's adapters."""

from __future__ import annotations

import socket
import threading

from twinbank.entrypoints.containers import ApplicationContainer

from .processor import BatchProcessor
from .runner import StreamWorker, WorkerSettings

CONSUMER_GROUP = "feature-workers"


def default_consumer_name() -> str:
    """Return a name that stays the same across restarts on one host, so that a
    restarted worker finds the entries it left pending."""
    return f"worker-{socket.gethostname()}"


def build_stream_worker(
    container: ApplicationContainer,
    settings: WorkerSettings,
    consumer: str,
    write_history: bool = True,
    apply_lock: threading.Lock | None = None,
) -> StreamWorker:
    serving = container.serving
    feature_set = container.features.feature_set()
    state = serving.worker_state()
    processor = BatchProcessor(
        feature_set,
        state,
        serving.online_store_writer(),
        serving.feature_history() if write_history else None,
        apply_lock=apply_lock,
    )
    subscription = serving.event_stream().subscription(CONSUMER_GROUP, consumer)
    return StreamWorker(subscription, processor, state, settings)
