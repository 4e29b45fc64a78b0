"""Ports: what the core needs from the outside world, in its own terms.

Adapters in ``twinbank.adapters`` implement these protocols; the composition root in
``twinbank.entrypoints.containers`` chooses which ones a run uses.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np
import numpy.typing as npt

from .transactions import Transaction

if TYPE_CHECKING:
    from .decisions import DecisionRecord
    from .features.definitions import FeatureSet
    from .features.historical import FeatureHistoryTable
    from .features.online import FeatureWrite, HistoryRow, StoredValues
    from .features.registry import RegisteredPipeline
    from .features.streaming import EntityHistory

EntityKey = int | str


class Clock(Protocol):
    """Business time: wall time in production, simulated time in the twin."""

    def now_ns(self) -> int:
        """Return the current time in nanoseconds since the epoch, UTC."""
        ...


class Stopwatch(Protocol):
    """A monotonic counter for measuring how long the core works on something.

    In the twin this is still real elapsed time, because it measures the cost of the
    computation rather than the simulated world.
    """

    def ticks_ns(self) -> int:
        """Return a monotonic reading in nanoseconds; only differences are meaningful."""
        ...


@dataclass(frozen=True, slots=True)
class RecordedTransaction:
    """A transaction from history, with its investigated outcome when known."""

    transaction: Transaction
    is_fraud: bool | None = None
    fraud_scenario: int | None = None


class TransactionSource(Protocol):
    """Transactions in ``(timestamp_ns, transaction_id)`` order."""

    @property
    def description(self) -> str:
        """Return a human-readable name of where the transactions come from."""
        ...

    def __iter__(self) -> Iterator[RecordedTransaction]: ...


class FeatureStateStore(Protocol):
    """Window state of the streaming feature engine, per entity key.

    The store also remembers, for transactions whose labels feed some window, when
    they happened and under which keys, so that a label can find its transaction.
    """

    def load_history(self, entity: str, key: EntityKey) -> EntityHistory | None: ...

    def save_history(self, entity: str, key: EntityKey, history: EntityHistory) -> None: ...

    def remember_transaction(
        self, transaction_id: int, timestamp_ns: int, keys: tuple[EntityKey, ...]
    ) -> None: ...

    def recall_transaction(self, transaction_id: int) -> tuple[int, tuple[EntityKey, ...]] | None:
        """Return and forget what was remembered of a transaction, or None."""
        ...

    def forget_transactions_before(self, timestamp_ns: int) -> int:
        """Forget transactions older than ``timestamp_ns``; return how many."""
        ...


class Scorer(Protocol):
    """A model that turns rows of model inputs into fraud probabilities."""

    @property
    def version(self) -> str: ...

    @property
    def input_names(self) -> tuple[str, ...]:
        """Return the names of the input columns, in order (see ``ModelInputs``)."""
        ...

    def score_matrix(self, inputs: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Return one probability in [0, 1] per row, in row order."""
        ...


class DecisionLog(Protocol):
    """Where decision records are kept for audit and reporting."""

    def append(self, record: DecisionRecord) -> None: ...

    def flush(self) -> None:
        """Make every appended record durable."""
        ...

    def count(self) -> int: ...


@dataclass(frozen=True, slots=True)
class StoredArtifact:
    """A versioned set of files with a manifest; ``version`` is the content hash."""

    name: str
    version: str
    manifest: dict[str, object]
    files: dict[str, bytes]


class ArtifactStore(Protocol):
    """Keeps versioned model artifacts: files addressed by a hash of their content.

    ``load`` raises when a stored file no longer hashes to what the manifest records, so
    a replaced or damaged artifact is never used under its old version.
    """

    def save(
        self, name: str, files: dict[str, bytes], manifest: dict[str, object]
    ) -> StoredArtifact: ...

    def load(self, name: str, version: str) -> StoredArtifact: ...

    def versions(self, name: str) -> tuple[str, ...]:
        """Return the stored versions of ``name``, oldest first."""
        ...


class OnlineFeatureStore(Protocol):
    """Latest feature values per entity key, for low-latency reads.

    A stored value is replaced only by a write with an equal or later event time, so
    a late or replayed write never hides a newer value; at equal event times the
    later write wins, as in the stream's arrival order.
    """

    def write(self, writes: Sequence[FeatureWrite]) -> None: ...

    def read(self, entity: str, keys: Sequence[EntityKey], names: Sequence[str]) -> StoredValues:
        """Return the stored value and event time of each name for each key, in order."""
        ...

    def ping(self) -> bool: ...


class FeatureHistory(Protocol):
    """Append-only history of computed feature values (the offline side).

    Appending a row whose ``(entity, key, event_id)`` is already stored changes
    nothing, so a replayed batch adds no duplicate.
    """

    def append(self, rows: Sequence[HistoryRow]) -> None: ...


class OfflineFeatureStore(Protocol):
    """Feature values over time, per entity, for training and materialization.

    Rows are never updated in place: a correction is a new row with a later created
    time, which point-in-time retrieval prefers at equal event times.
    """

    def append(self, table: FeatureHistoryTable) -> None: ...

    def history(
        self, entity: str, names: Sequence[str], until_ns: int | None = None
    ) -> FeatureHistoryTable:
        """Return the entity's rows (event time ``<= until_ns`` when given), with the
        columns ``names`` in that order; a feature never stored reads as null."""
        ...


class RegistryStore(Protocol):
    """Registered versions of feature pipelines, so that any recorded version can be
    looked up again by the decisions that name it."""

    def register(self, feature_set: FeatureSet, registered_ns: int) -> bool:
        """Record a pipeline version; return False when it was already recorded."""
        ...

    def get(self, pipeline: str, version: str | None = None) -> FeatureSet | None:
        """Return a registered version, the latest when ``version`` is None, or None."""
        ...

    def versions(self, pipeline: str) -> list[RegisteredPipeline]:
        """Return a pipeline's registered versions, oldest first."""
        ...

    def pipelines_using(self, feature_version: str) -> list[tuple[str, str]]:
        """Return ``(pipeline, pipeline version)`` pairs containing a feature version."""
        ...


class MaterializationLog(Protocol):
    """Per pipeline and entity, the event time up to which batch materialization ran."""

    def watermark(self, pipeline: str, entity: str) -> int | None:
        """Return the recorded watermark in ns, or None before the first run."""
        ...

    def record(self, pipeline: str, entity: str, watermark_ns: int) -> None: ...
