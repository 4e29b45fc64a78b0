"""The decision use case: features at arrival, a score, a policy outcome, a record."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .decisions import (
    DecisionPolicy,
    DecisionRecord,
    StageLatency,
    decision_id_for,
)
from .features.streaming import StreamingFeatureEngine
from .features.vector import FeatureVector
from .modeling import FloatArray, ModelInputs
from .ports import Clock, DecisionLog, Scorer, Stopwatch
from .transactions import FraudLabel, Transaction

if TYPE_CHECKING:
    # Imported for types only: the ensemble package imports this module.
    from .ensemble.rules import RulesEngine


@dataclass(frozen=True, slots=True)
class Assessment:
    """A transaction with the features it had when it arrived.

    ``degraded`` names the components that could not contribute (for example the
    feature state, when its store was unreachable); the decision record carries them.
    """

    transaction: Transaction
    features: FeatureVector
    features_ns: int
    degraded: tuple[str, ...] = ()


class DecisionService:
    """Decide transactions with streaming features, a scorer and a threshold policy.

    Features are computed when a transaction arrives (``assess``); scoring may happen
    later and in batches (``decide_assessed``) without changing what the features saw,
    so batching never lets a later label leak into an earlier decision.
    """

    def __init__(
        self,
        engine: StreamingFeatureEngine,
        scorer: Scorer,
        policy: DecisionPolicy,
        log: DecisionLog,
        clock: Clock,
        stopwatch: Stopwatch,
        degraded_rules: RulesEngine | None = None,
    ) -> None:
        """``degraded_rules``, when given, applies to degraded assessments only: the
        floors of the rules that fire raise the score, and their codes join the reasons.
        Its conditions must read the scorer's input columns."""
        self._engine = engine
        self._scorer = scorer
        # Fails at wiring time, not at the first decision, when the model reads an
        # input the feature set does not compute.
        self._inputs = ModelInputs(scorer.input_names, engine.feature_set.names)
        self._policy = policy
        self._log = log
        self._clock = clock
        self._stopwatch = stopwatch
        self._degraded_rules = degraded_rules

    @property
    def policy(self) -> DecisionPolicy:
        return self._policy

    @property
    def model_version(self) -> str:
        return self._scorer.version

    def observe_label(self, label: FraudLabel) -> None:
        self._engine.observe_label(label)

    def assess(self, transaction: Transaction) -> Assessment:
        """Update the streaming windows with a transaction and return its features."""
        started = self._stopwatch.ticks_ns()
        features = self._engine.observe_transaction(transaction)
        return Assessment(transaction, features, self._stopwatch.ticks_ns() - started)

    def decide(self, transaction: Transaction) -> DecisionRecord:
        """Assess and decide one transaction."""
        return self.decide_assessed([self.assess(transaction)])[0]

    def decide_assessed(self, assessments: Sequence[Assessment]) -> list[DecisionRecord]:
        """Score assessed transactions in one batch, apply the policy and log each record."""
        if not assessments:
            return []
        stopwatch = self._stopwatch
        started = stopwatch.ticks_ns()
        matrix = self._inputs.assemble(
            [assessment.transaction for assessment in assessments],
            [assessment.features for assessment in assessments],
        )
        scores = self._scorer.score_matrix(matrix)
        scoring_ns = (stopwatch.ticks_ns() - started) // len(assessments)
        decided_at = self._clock.now_ns()
        model_version = self._scorer.version
        policy = self._policy
        records = []
        for row, (assessment, model_score) in enumerate(zip(assessments, scores, strict=True)):
            policy_started = stopwatch.ticks_ns()
            score = float(model_score)
            fired: tuple[str, ...] = ()
            if assessment.degraded and self._degraded_rules is not None:
                score, fired = _apply_rules(self._degraded_rules, matrix[row], score)
            outcome, reasons = policy.outcome_for(score)
            reasons += fired
            transaction = assessment.transaction
            record = DecisionRecord(
                decision_id=decision_id_for(
                    transaction.transaction_id, model_version, policy.version
                ),
                transaction=transaction,
                decided_at_ns=decided_at,
                score=score,
                outcome=outcome,
                reasons=reasons,
                policy_version=policy.version,
                model_version=model_version,
                features=assessment.features,
                latency=StageLatency(
                    assessment.features_ns, scoring_ns, stopwatch.ticks_ns() - policy_started
                ),
                degraded=assessment.degraded,
            )
            self._log.append(record)
            records.append(record)
        return records


def _apply_rules(
    rules: RulesEngine, row: FloatArray, score: float
) -> tuple[float, tuple[str, ...]]:
    """Return the score raised to the firing rules' highest floor, and their codes."""
    positions, _, floor = rules.evaluate_row(row.tolist())
    return max(score, floor), tuple(rules.codes[position] for position in positions)
