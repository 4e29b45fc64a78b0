"""The replay twin: recorded transactions and their labels flow through the core.

Two SimPy processes share one environment, which is the clock:

* the replay process emits every transaction at its timestamp and every label once
  it is revealed (the transaction's time plus the label delay), in the order of
  ``twinbank.core.events.interleave_labels``. On each transaction it asks the core
  to assess it, which updates the streaming features as of that moment;
* the decision process takes assessed transactions, waits up to the batching delay,
  and asks the core to decide them in one batch.

Labels revealed between two transactions reach the core when the second one
arrives, just before it is assessed, rather than each at its own reveal instant. Only
transactions read the windows that labels change, and a label still precedes every
transaction at or after its reveal time, so each transaction gets the same features.
The replay saves one SimPy timeout per label. Labels revealed after the last
transaction are delivered at their reveal instants, so the simulation still ends when
the last label is revealed.

Assessed transactions wait in a plain list rather than a ``simpy.Store``. The replay
process appends to it and wakes the decision process only when that process is idle.
So a transaction costs no SimPy event of its own beyond the wait for its timestamp.
The decision process resumes through one event per batch, at the same point of the
event order as a ``Store`` get would, so batches and decision times are unchanged.

The twin holds no domain logic: features, scores and outcomes all come from the core
through ``DecisionService``.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import simpy

from twinbank.core.decisioning import Assessment, DecisionService
from twinbank.core.decisions import DecisionRecord, Outcome
from twinbank.core.events import interleave_labels
from twinbank.core.ports import RecordedTransaction
from twinbank.core.transactions import FraudLabel

from .clock import SimulatedClock

ProgressCallback = Callable[[int], None]


@dataclass(frozen=True)
class TwinSettings:
    label_delay_ns: int
    max_batch_size: int = 256
    max_batch_wait_seconds: float = 0.0
    progress_every: int = 10_000


OUTCOME_CODES = {outcome: code for code, outcome in enumerate(Outcome)}


@dataclass
class TwinTrace:
    """What the twin saw: counts, and per decision (in decision order) the transaction
    id, score, outcome code (see OUTCOME_CODES), stage latencies and simulated wait.

    Compact arrays keep a 1.75 M-decision replay within a few hundred MB.
    """

    transactions: int = 0
    labels: int = 0
    batches: int = 0
    transaction_ids: array = field(default_factory=lambda: array("q"))
    scores: array = field(default_factory=lambda: array("d"))
    outcomes: array = field(default_factory=lambda: array("b"))
    features_ns: array = field(default_factory=lambda: array("q"))
    scoring_ns: array = field(default_factory=lambda: array("q"))
    policy_ns: array = field(default_factory=lambda: array("q"))
    wait_ns: array = field(default_factory=lambda: array("q"))

    def record(self, decisions: list[DecisionRecord]) -> None:
        for decision in decisions:
            self.transaction_ids.append(decision.transaction.transaction_id)
            self.scores.append(decision.score)
            self.outcomes.append(OUTCOME_CODES[decision.outcome])
            latency = decision.latency
            self.features_ns.append(latency.features_ns)
            self.scoring_ns.append(latency.scoring_ns)
            self.policy_ns.append(latency.policy_ns)
            self.wait_ns.append(decision.decided_at_ns - decision.transaction.timestamp_ns)


class ReplayTwin:
    """Replays a transaction source through a DecisionService under simulated time."""

    def __init__(
        self,
        env: simpy.Environment,
        clock: SimulatedClock,
        service: DecisionService,
        settings: TwinSettings,
        progress: ProgressCallback | None = None,
    ) -> None:
        self._env = env
        self._clock = clock
        self._service = service
        self._settings = settings
        self._progress = progress
        self._inbox: list[Assessment] = []
        self._wake: simpy.Event | None = None
        self.trace = TwinTrace()

    def run(self, source: Iterable[RecordedTransaction]) -> TwinTrace:
        """Replay every transaction and label, decide every transaction, return the trace."""
        env = self._env
        env.process(self._decide())
        replay = env.process(self._replay(source))
        env.run(until=replay)
        env.run()  # let the decision process finish the last batch
        return self.trace

    def _wait_until(self, timestamp_ns: int) -> simpy.Event | None:
        delay = self._clock.seconds_until(timestamp_ns)
        return self._env.timeout(delay) if delay > 0 else None

    def _replay(self, source: Iterable[RecordedTransaction]):  # type: ignore[no-untyped-def]
        service = self._service
        progress_every = self._settings.progress_every
        trace = self.trace
        revealed: list[FraudLabel] = []
        for event in interleave_labels(source, self._settings.label_delay_ns):
            if isinstance(event, FraudLabel):
                revealed.append(event)
                continue
            wait = self._wait_until(event.timestamp_ns)
            if wait is not None:
                yield wait
            if revealed:
                for label in revealed:
                    service.observe_label(label)
                trace.labels += len(revealed)
                revealed.clear()
            self._inbox.append(service.assess(event))
            if self._wake is not None:
                self._wake.succeed()
                self._wake = None
            trace.transactions += 1
            if self._progress is not None and trace.transactions % progress_every == 0:
                self._progress(trace.transactions)
        for label in revealed:  # revealed after the last transaction
            wait = self._wait_until(label.revealed_at_ns)
            if wait is not None:
                yield wait
            service.observe_label(label)
            trace.labels += 1
        if self._progress is not None:
            self._progress(trace.transactions)

    def _next_arrival(self) -> simpy.Event:
        """Return the event that resumes the decision process for its next batch: one
        already triggered when transactions wait, else one the next arrival triggers."""
        event = self._env.event()
        if self._inbox:
            return event.succeed()
        self._wake = event
        return event

    def _decide(self):  # type: ignore[no-untyped-def]
        inbox = self._inbox
        settings = self._settings
        while True:
            yield self._next_arrival()
            if settings.max_batch_wait_seconds > 0:
                yield self._env.timeout(settings.max_batch_wait_seconds)
            batch = inbox[: settings.max_batch_size]
            del inbox[: settings.max_batch_size]
            self.trace.record(self._service.decide_assessed(batch))
            self.trace.batches += 1
