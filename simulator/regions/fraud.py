"""Fraud outcomes of a multi-region run: real core decisions on transactions that pass
through the twin.

The fraud section's model is trained on its protocol's training week. The
transactions of the protocol's test period are then spread over the twin's horizon
in order (a linear map of time) and submitted as requests of their customers' origin
regions. Each one is routed, queued and served like every other request:

* on arrival, the core assesses it (streaming features as of the transaction's own
  timestamp, labels revealed before it applied), exactly as the replay twin does;
* when a replica finishes serving it, the core decides it (``DecisionService``) and
  logs the record, unless the replica had no features, which means the stand-in rule;
* a request that was rejected, failed, timed out in a queue or served after the
  authorization window gets the issuer's stand-in decision instead.

Features and scores are those of the transaction's own time, so a decided request
gets the score that batch scoring gives it offline. The report checks this.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from twinbank.adapters.transactions import TransactionDataset
from twinbank.core.decisioning import Assessment, DecisionService
from twinbank.core.decisions import DecisionPolicy, Outcome
from twinbank.core.events import interleave_labels
from twinbank.core.features.batch import compute_batch
from twinbank.core.features.definitions import FeatureSet
from twinbank.core.modeling import ModelInputs
from twinbank.core.ports import Scorer, Stopwatch
from twinbank.core.standin import StandInCause, StandInPolicy
from twinbank.core.timestamps import NANOS_PER_DAY, NANOS_PER_SECOND
from twinbank.core.transactions import FraudLabel, Transaction

from .metrics import FEATURES_UNAVAILABLE, Unserved
from .world import InjectedRequests

OUTCOMES = tuple(Outcome)
OUTCOME_CODE = {outcome: code for code, outcome in enumerate(OUTCOMES)}

# Fates of a transaction-carrying request: decided by the model, or stand-in and why.
MODEL = 0
FATES = ("MODEL", *(cause.value for cause in StandInCause))
FATE_CODE = {name: code for code, name in enumerate(FATES)}
_STAND_IN_FOR = {
    Unserved.RESIDENCY_REJECTED: StandInCause.RESIDENCY_REJECTED,
    Unserved.NO_HEALTHY_REGION: StandInCause.NO_HEALTHY_REGION,
    Unserved.REGION_UNREACHABLE: StandInCause.REGION_UNREACHABLE,
    Unserved.QUEUE_FULL: StandInCause.QUEUE_FULL,
    Unserved.QUEUE_TIMEOUT: StandInCause.QUEUE_TIMEOUT,
    Unserved.REPLICA_CRASHED: StandInCause.REPLICA_CRASHED,
}


class SettableClock:
    """The Clock port for decisions made inside the twin.

    A transaction-carrying request is decided ``latency`` after its transaction's own
    timestamp, so the desk sets this clock to that instant before each decision.
    """

    def __init__(self) -> None:
        self._now_ns = 0

    def set(self, now_ns: int) -> None:
        self._now_ns = now_ns

    def now_ns(self) -> int:
        return self._now_ns


@dataclass(frozen=True)
class FraudWindow:
    """The transactions submitted through the twin: dataset rows ``first:last``."""

    first: int
    last: int
    start_ns: int
    end_ns: int

    def __len__(self) -> int:
        return self.last - self.first


def test_period_window(
    dataset: TransactionDataset, test_start_day: int, test_end_day: int
) -> FraudWindow:
    """Return the rows of the protocol's test period (epoch days, end exclusive)."""
    start_ns = test_start_day * NANOS_PER_DAY
    end_ns = test_end_day * NANOS_PER_DAY
    first, last = np.searchsorted(dataset.timestamp_ns, [start_ns, end_ns], side="left")
    return FraudWindow(int(first), int(last), start_ns, end_ns)


def injected_requests(
    dataset: TransactionDataset,
    window: FraudWindow,
    horizon: float,
    weights: dict[tuple[int, int], float],
    seed: int,
) -> InjectedRequests:
    """Map the window's transactions onto the horizon and give each customer an origin
    region and a home jurisdiction, drawn once per customer from ``weights``
    (``(origin, home) -> share of traffic``)."""
    rows = slice(window.first, window.last)
    offsets = (dataset.timestamp_ns[rows] - window.start_ns) / (window.end_ns - window.start_ns)
    times = np.minimum(offsets * horizon, np.nextafter(horizon, 0.0))
    pairs = [pair for pair, weight in sorted(weights.items()) if weight > 0]
    shares = np.array([weights[pair] for pair in pairs])
    cumulative = np.cumsum(shares / shares.sum())
    customers = dataset.customer_id[rows]
    draws = np.random.default_rng([seed, 7_919]).random(int(customers.max(initial=0)) + 1)
    chosen = np.minimum(np.searchsorted(cumulative, draws[customers], side="right"), len(pairs) - 1)
    origins = np.array([pairs[index][0] for index in chosen.tolist()], dtype=np.int64)
    homes = np.array([pairs[index][1] for index in chosen.tolist()], dtype=np.int64)
    return InjectedRequests(times, origins, homes, np.arange(len(times), dtype=np.int64))


def calibrate_decision_time(
    dataset: TransactionDataset,
    window: FraudWindow,
    service: DecisionService,
    stopwatch: Stopwatch,
    label_delay_ns: int,
    decisions: int,
    discard: int,
    history_days: float,
) -> npt.NDArray[np.float64]:
    """Time single decisions of the core on the transactions just before the window.

    ``service`` must have fresh window state; it first assesses ``history_days`` of
    earlier transactions. Returns the kept wall times of whole ``decide`` calls in
    seconds. Raises ValueError when the data before the window is too short.
    """
    last = window.first
    first = max(0, last - decisions)
    if last - first <= discard:
        raise ValueError(
            f"calibration needs more than {discard} transactions before the decided period "
            f"(which starts {window.start_ns // NANOS_PER_DAY} days after 1970-01-01); the "
            f"data holds {last - first}; lower fraud.calibration.discard or start training later"
        )
    history_start = int(dataset.timestamp_ns[first]) - int(history_days * NANOS_PER_DAY)
    history_first = int(np.searchsorted(dataset.timestamp_ns, history_start, side="left"))
    timings = []
    events = interleave_labels(dataset.slice(history_first, last), label_delay_ns)
    position = history_first
    for event in events:
        if isinstance(event, FraudLabel):
            service.observe_label(event)
            continue
        if position < first:
            service.assess(event)
        else:
            began = stopwatch.ticks_ns()
            service.decide(event)
            timings.append(stopwatch.ticks_ns() - began)
        position += 1
    return np.asarray(timings[discard:], dtype=np.float64) / float(NANOS_PER_SECOND)


class FraudDesk:
    """Assesses and decides the transaction-carrying requests of one run."""

    def __init__(
        self,
        dataset: TransactionDataset,
        window: FraudWindow,
        service: DecisionService,
        clock: SettableClock,
        stand_in: StandInPolicy,
        label_delay_ns: int,
        authorization_window: float,
        stopwatch: Stopwatch,
    ) -> None:
        self._dataset = dataset
        self._window = window
        self._service = service
        self._clock = clock
        self._stand_in = stand_in
        self._deadline = authorization_window
        self._stopwatch = stopwatch
        self._events = _Lookahead(interleave_labels(dataset.slice(0, window.last), label_delay_ns))
        self._assessments: dict[int, Assessment] = {}
        self._pending: list[tuple[float, int, float, int, int]] = []
        size = len(window)
        self.fates = np.full(size, -1, dtype=np.int8)
        self.final = np.full(size, -1, dtype=np.int8)
        self.scores = np.full(size, np.nan)
        self.regions = np.full(size, -1, dtype=np.int16)
        self.latency = np.full(size, np.nan)
        # Wall time of the core's work during the twin; arrival_ns is its share spent
        # assessing on arrival, inside the request loop. warm_up_ns comes before the twin.
        self.busy_ns = 0
        self.arrival_ns = 0
        self.warm_up_ns = 0

    def warm_up(self, progress: Callable[[int], None] | None = None) -> int:
        """Feed the windows every transaction and label before the submitted period."""
        started = self._stopwatch.ticks_ns()
        fed = 0
        service = self._service
        for event in self._events.until_transaction(self._window.first):
            if isinstance(event, FraudLabel):
                service.observe_label(event)
            else:
                service.assess(event)
                fed += 1
                if progress is not None and fed % 10_000 == 0:
                    progress(fed)
        self.warm_up_ns += self._stopwatch.ticks_ns() - started
        return fed

    # -- DecisionDesk ---------------------------------------------------------------------

    def arrived(self, tag: int) -> None:
        started = self._stopwatch.ticks_ns()
        row = self._window.first + tag
        for event in self._events.until_transaction(row):
            if isinstance(event, FraudLabel):
                self._service.observe_label(event)
        transaction = self._events.take_transaction(row)
        self._assessments[tag] = self._service.assess(transaction)
        spent = self._stopwatch.ticks_ns() - started
        self.busy_ns += spent
        self.arrival_ns += spent

    def served(self, tag: int, completion: float, latency: float, region: int, flags: int) -> None:
        self._pending.append((completion, tag, latency, region, flags))

    def unserved(self, tag: int, cause: Unserved) -> None:
        self._pending = [entry for entry in self._pending if entry[1] != tag]
        self._stand_in_decision(tag, _STAND_IN_FOR[cause])
        self.regions[tag] = -1
        self.latency[tag] = np.nan
        self.scores[tag] = np.nan

    def settle(self, until: float) -> None:
        """Decide every served request whose service has completed by ``until``."""
        if not self._pending:
            return
        started = self._stopwatch.ticks_ns()
        self._pending.sort()
        done = 0
        for completion, tag, latency, region, flags in self._pending:
            if completion > until:
                break
            done += 1
            self.regions[tag] = region
            self.latency[tag] = latency
            if flags & FEATURES_UNAVAILABLE:
                self._stand_in_decision(tag, StandInCause.FEATURES_UNAVAILABLE)
                continue
            self._model_decision(tag, latency)
        del self._pending[:done]
        self.busy_ns += self._stopwatch.ticks_ns() - started

    # -- decisions ------------------------------------------------------------------------

    def _model_decision(self, tag: int, latency: float) -> None:
        assessment = self._assessments.pop(tag)
        self._clock.set(assessment.transaction.timestamp_ns + round(latency * NANOS_PER_SECOND))
        record = self._service.decide_assessed([assessment])[0]
        self.scores[tag] = record.score
        if latency > self._deadline:
            self._stand_in_decision(tag, StandInCause.DEADLINE_EXCEEDED)
            return
        self.fates[tag] = MODEL
        self.final[tag] = OUTCOME_CODE[record.outcome]

    def _stand_in_decision(self, tag: int, cause: StandInCause) -> None:
        self._assessments.pop(tag, None)
        amount = float(self._dataset.amount[self._window.first + tag])
        outcome, _ = self._stand_in.outcome_for(amount, cause)
        self.fates[tag] = FATE_CODE[cause.value]
        self.final[tag] = OUTCOME_CODE[outcome]


def offline_outcomes(
    dataset: TransactionDataset,
    window: FraudWindow,
    feature_set: FeatureSet,
    scorer: Scorer,
    policy: DecisionPolicy,
    label_delay_ns: int,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int8]]:
    """Return batch scores and policy outcomes of the window's transactions: what the
    model decides when nothing fails, the reference the twin's outcomes are compared to."""
    end = window.last
    head = dataset.slice(0, end)
    features = compute_batch(feature_set, head.table(), head.labels(label_delay_ns))
    columns = {name: features[:, index] for index, name in enumerate(feature_set.names)}
    columns["amount"] = head.amount
    inputs = ModelInputs(scorer.input_names, feature_set.names)
    matrix = inputs.from_columns(columns)[window.first : end]
    scores = scorer.score_matrix(matrix) if len(matrix) else np.empty(0)
    outcomes = np.array(
        [OUTCOME_CODE[policy.outcome_for(float(score))[0]] for score in scores], dtype=np.int8
    )
    return np.asarray(scores, dtype=np.float64), outcomes


class _Lookahead:
    """Replay events with one transaction of lookahead."""

    def __init__(self, events: Iterator[Transaction | FraudLabel]) -> None:
        self._events = events
        self._held: Transaction | None = None
        self._position = 0  # dataset row of the next transaction

    def until_transaction(self, row: int) -> Iterator[Any]:
        """Yield the events before the transaction of dataset row ``row``.

        That transaction is held back for ``take_transaction``.
        """
        if self._held is not None and self._position == row:
            return
        for event in itertools.chain([self._held] if self._held is not None else [], self._events):
            if isinstance(event, FraudLabel):
                yield event
                continue
            self._held = None
            if self._position == row:
                self._held = event
                return
            self._position += 1
            yield event

    def take_transaction(self, row: int) -> Transaction:
        if self._held is None or self._position != row:
            raise RuntimeError(
                f"the replay expected dataset row {row} next, but it is at row {self._position}; "
                "transaction-carrying requests must arrive in transaction order"
            )
        held, self._held = self._held, None
        self._position += 1
        return held
