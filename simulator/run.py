"""One scenario run: train the model on the protocol's training week, replay the whole
transaction source through the twin, and gather what the report needs.

Every collaborator arrives through the constructor (from the composition root), so the
same run works with in-memory, SQLite or server-backed adapters.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date

import numpy as np
import numpy.typing as npt
import simpy

from twinbank.adapters.transactions import TransactionDataset
from twinbank.core.decisioning import DecisionService
from twinbank.core.decisions import DecisionPolicy
from twinbank.core.evaluation import HandbookProtocol, ProtocolSplit
from twinbank.core.features.batch import compute_batch
from twinbank.core.features.definitions import FeatureSet
from twinbank.core.features.streaming import StreamingFeatureEngine
from twinbank.core.modeling import ModelInputs, ModelTrainer
from twinbank.core.ports import DecisionLog, FeatureStateStore, Scorer, Stopwatch
from twinbank.core.timestamps import NANOS_PER_DAY, days

from .clock import SimulatedClock
from .scenario import Scenario
from .twin import ReplayTwin, TwinSettings, TwinTrace

_EPOCH = date(1970, 1, 1)


@dataclass(frozen=True)
class TrainedModel:
    scorer: Scorer
    protocol: HandbookProtocol
    split: ProtocolSplit
    offline_test_scores: npt.NDArray[np.float64]
    seconds: float


@dataclass(frozen=True)
class RunResult:
    scenario: Scenario
    dataset: TransactionDataset
    feature_set: FeatureSet
    model: TrainedModel
    trace: TwinTrace
    replay_seconds: float
    total_seconds: float
    decisions_logged: int


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Run the block with the cyclic garbage collector's youngest generation collected
    about 140 times less often than by default, then restore the thresholds.

    A replay keeps about a hundred thousand long-lived containers (window histories,
    remembered transactions, assessed transactions waiting for their batch). It makes
    almost no reference cycles, and with the default thresholds (700, 10, 10) the
    collector took about a fifth of its CPU time walking the same objects.
    """
    previous = gc.get_threshold()
    gc.set_threshold(100_000, 50, 100)
    try:
        yield
    finally:
        gc.set_threshold(*previous)


def protocol_for(scenario: Scenario) -> HandbookProtocol:
    """Return the scenario's protocol with days counted from 1970-01-01 (UTC)."""
    spec = scenario.model.training
    return HandbookProtocol(
        training_start_day=(spec.training_start - _EPOCH).days,
        training_days=spec.training_days,
        delay_days=spec.delay_days,
        test_days=spec.test_days,
    )


class ScenarioRun:
    """Runs one scenario with the adapters the composition root hands it."""

    def __init__(
        self,
        scenario: Scenario,
        dataset: TransactionDataset,
        feature_set: FeatureSet,
        trainer: ModelTrainer,
        feature_state: FeatureStateStore,
        decision_log: Callable[[], DecisionLog],
        stopwatch: Stopwatch,
    ) -> None:
        """``decision_log`` builds the log when the replay starts, so that a run that
        fails in training leaves no database behind."""
        self._scenario = scenario
        self._dataset = dataset
        self._feature_set = feature_set
        self._trainer = trainer
        self._feature_state = feature_state
        self._decision_log_factory = decision_log
        self._decisions_logged = 0
        self._stopwatch = stopwatch

    @property
    def label_delay_ns(self) -> int:
        return days(self._scenario.label_delay_days)

    def train(self) -> TrainedModel:
        """Fit the model on the protocol's training week, on batch-computed features.

        Raises ValueError when the training week holds no transaction or no fraud.
        """
        started = self._stopwatch.ticks_ns()
        dataset = self._dataset
        if dataset.is_fraud is None:
            raise ValueError(
                f"{dataset.description}: the data has no TX_FRAUD labels, so no model can be "
                "trained on it"
            )
        features = compute_batch(
            self._feature_set, dataset.table(), dataset.labels(self.label_delay_ns)
        )
        columns = {name: features[:, index] for index, name in enumerate(self._feature_set.names)}
        columns["amount"] = dataset.amount
        feature_names = self._feature_set.names
        inputs = ModelInputs(
            self._scenario.model.inputs or ("amount", *feature_names), feature_names
        )
        matrix = inputs.from_columns(columns)
        protocol = protocol_for(self._scenario)
        split = protocol.split(dataset.epoch_days, dataset.customer_id, dataset.is_fraud)
        training_labels = dataset.is_fraud[split.training]
        if split.training.sum() == 0 or not training_labels.any():
            raise ValueError(
                f"{dataset.description}: the training period starting "
                f"{self._scenario.model.training.training_start} holds "
                f"{int(split.training.sum())} transactions and {int(training_labels.sum())} "
                "frauds; choose a training_start inside the data"
            )
        scorer = self._trainer.train(matrix[split.training], training_labels, inputs)
        if scorer.input_names != inputs.names:  # a stored ensemble reads its own inputs
            matrix = ModelInputs(scorer.input_names, feature_names).from_columns(columns)
        offline = scorer.score_matrix(matrix[split.test]) if split.test.any() else np.empty(0)
        seconds = (self._stopwatch.ticks_ns() - started) / 1e9
        return TrainedModel(scorer, protocol, split, offline, seconds)

    def replay(
        self, model: TrainedModel, progress: Callable[[int], None] | None = None
    ) -> TwinTrace:
        """Replay every transaction and label through the twin and decide each one."""
        scenario = self._scenario
        env = simpy.Environment()
        first_day_ns = int(self._dataset.timestamp_ns[0]) // NANOS_PER_DAY * NANOS_PER_DAY
        clock = SimulatedClock(env, first_day_ns)
        engine = StreamingFeatureEngine(self._feature_set, self._feature_state)
        policy = DecisionPolicy(
            scenario.policy.version, scenario.policy.step_up_at, scenario.policy.decline_at
        )
        settings = TwinSettings(
            label_delay_ns=self.label_delay_ns,
            max_batch_size=scenario.batching.max_size,
            max_batch_wait_seconds=scenario.batching.max_wait_seconds,
        )
        decision_log = self._decision_log_factory()
        try:
            service = DecisionService(
                engine, model.scorer, policy, decision_log, clock, self._stopwatch
            )
            with fewer_collections():
                trace = ReplayTwin(env, clock, service, settings, progress).run(self._dataset)
            decision_log.flush()
            self._decisions_logged = decision_log.count()
        finally:
            # A writer process ends here, also when the replay fails, not at exit.
            close = getattr(decision_log, "close", None)
            if close is not None:
                close()
        return trace

    def execute(self, progress: Callable[[int], None] | None = None) -> RunResult:
        """Train, then replay and decide everything."""
        return self.finish(self.train(), progress)

    def finish(
        self, model: TrainedModel, progress: Callable[[int], None] | None = None
    ) -> RunResult:
        """Replay and decide everything with an already trained model."""
        replay_started = self._stopwatch.ticks_ns()
        trace = self.replay(model, progress)
        finished = self._stopwatch.ticks_ns()
        return RunResult(
            scenario=self._scenario,
            dataset=self._dataset,
            feature_set=self._feature_set,
            model=model,
            trace=trace,
            replay_seconds=(finished - replay_started) / 1e9,
            total_seconds=(finished - replay_started) / 1e9 + model.seconds,
            decisions_logged=self._decisions_logged,
        )
