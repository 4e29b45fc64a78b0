"""The ensemble decision: components, combiner, calibration, rule floors, policy, record."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ..decisioning import Assessment
from ..decisions import DecisionPolicy, DecisionRecord, Outcome, StageLatency, decision_id_for
from ..explanations import ComponentReport, DecisionExplanation
from ..features.vector import FeatureVector
from ..modeling import ModelInputs
from ..ports import Clock, DecisionLog, Stopwatch
from ..transactions import Transaction
from .budgets import NS_PER_MS, NoTracing, StageBudgets, StageTracer
from .calibration import Calibration, logit
from .combiner import InvalidCombiner, WeightedCombiner
from .components import ComponentExplanation, ComponentScorer, ExplanationMethod, RulesScorer

FloatArray = npt.NDArray[np.float64]
TOP_CONTRIBUTIONS = 3


class NoComponentAnswered(RuntimeError):
    """No component with a non-zero weight scored a decision: each raised, exceeded its
    budget or was left out."""


@dataclass(frozen=True, slots=True)
class BatchScores:
    """Vectorized decisions over a batch of rows, without per-row records."""

    probabilities: FloatArray
    outcomes: npt.NDArray[np.int8]
    """0 approve, 1 step up, 2 decline."""
    fired: npt.NDArray[np.bool_]
    """``(rows, rules)``: the rules that fired, in the rule set's order."""


@dataclass(slots=True)
class _ComponentResult:
    log_odds: float | None
    explanation: ComponentExplanation | None
    elapsed_ns: int
    left_out: str | None
    fired: tuple[int, ...] = ()
    floor: float = 0.0


class EnsembleDecider:
    """Decides one transaction or a batch with the ensemble of components.

    All components read the same input columns (``inputs.names``). A component that
    raises, or whose scoring and explanation take longer than ``budgets.models_ms``, is
    left out and the combiner renormalizes the others' weights. A model cannot be
    interrupted in the middle of a call, so a slow one still costs its time: the budget
    decides whether its score counts, not how long the decision takes.
    """

    def __init__(
        self,
        inputs: ModelInputs,
        components: Sequence[ComponentScorer],
        combiner: WeightedCombiner,
        calibration: Calibration,
        policy: DecisionPolicy,
        stopwatch: Stopwatch,
        clock: Clock,
        budgets: StageBudgets | None = None,
        tracer: StageTracer | None = None,
        log: DecisionLog | None = None,
    ) -> None:
        names = tuple(component.name for component in components)
        if names != combiner.names:
            raise ValueError(
                f"components {names} and combiner weights {combiner.names} must name the "
                "same components in the same order"
            )
        for component in components:
            if component.input_names != inputs.names:
                raise ValueError(
                    f"component {component.name} reads {component.input_names}; the ensemble "
                    f"feeds every component {inputs.names}"
                )
        self._inputs = inputs
        self._components = tuple(components)
        self._combiner = combiner
        self._calibration = calibration
        self._policy = policy
        self._stopwatch = stopwatch
        self._clock = clock
        self._budgets = budgets or StageBudgets()
        self._tracer = tracer or NoTracing()
        self._log = log
        self._version = "ensemble:" + "+".join(f"{c.name}={c.version}" for c in components)
        self._rule_codes = next(
            (c.engine.codes for c in components if isinstance(c, RulesScorer)), ()
        )

    @property
    def version(self) -> str:
        return self._version

    @property
    def inputs(self) -> ModelInputs:
        return self._inputs

    def decide(
        self,
        transaction: Transaction,
        features: FeatureVector,
        features_ns: int = 0,
        degraded_features: tuple[str, ...] = (),
    ) -> DecisionRecord:
        """Decide one transaction; ``features_ns`` is the time already spent fetching features.

        ``degraded_features`` names what could not feed the features (for example the
        feature state). Then only the rules decide: the models are left out, because
        their inputs are not what they were trained on, and the names open the record's
        ``degraded`` list.
        """
        watch = self._stopwatch
        started = watch.ticks_ns()
        row = self._row(transaction, features)
        assembled = watch.ticks_ns()
        features_total = features_ns + (assembled - started)
        degraded: list[str] = list(degraded_features)
        self._tracer.record_stage("features", assembled - features_total, assembled, {})
        if features_total > self._budgets.features_ms * NS_PER_MS:
            degraded.append(
                f"features: took {features_total / NS_PER_MS:.2f} ms, over the "
                f"{self._budgets.features_ms} ms budget"
            )

        results = [
            self._run(component, row)
            if not degraded_features or isinstance(component, RulesScorer)
            else _ComponentResult(None, None, 0, "features degraded; the rules decide alone")
            for component in self._components
        ]
        for component, result in zip(self._components, results, strict=True):
            if result.left_out is not None:
                degraded.append(f"{component.name}: {result.left_out}")
        decision_started = watch.ticks_ns()
        present = [result.log_odds is not None for result in results]
        try:
            weights = self._combiner.effective_weights(present)
        except InvalidCombiner:
            raise NoComponentAnswered(
                f"transaction {transaction.transaction_id}: no component with a weight "
                "answered: " + ("; ".join(degraded) or "the answering ones have weight 0")
            ) from None
        combined = self._combiner.combine_row(
            [result.log_odds or 0.0 for result in results], weights
        )
        calibrated = float(self._calibration.probabilities(np.array([combined]))[0])
        floor = max(result.floor for result in results)
        score = max(calibrated, floor)
        outcome, reasons = self._policy.outcome_for(score)
        fired = tuple(self._rule_codes[position] for result in results for position in result.fired)
        explanation = self._explain(results, weights, combined, calibrated, floor, fired)
        decided = watch.ticks_ns()
        decision_ns = decided - decision_started
        self._tracer.record_stage("decision", decision_started, decided, {"outcome": outcome})
        if decision_ns > self._budgets.decision_ms * NS_PER_MS:
            degraded.append(
                f"decision: took {decision_ns / NS_PER_MS:.2f} ms, over the "
                f"{self._budgets.decision_ms} ms budget"
            )
        models_ns = sum(result.elapsed_ns for result in results)
        stage_ns = (
            ("features", features_total),
            *((c.name, r.elapsed_ns) for c, r in zip(self._components, results, strict=True)),
            ("decision", decision_ns),
        )
        record = DecisionRecord(
            decision_id=decision_id_for(
                transaction.transaction_id, self._version, self._policy.version
            ),
            transaction=transaction,
            decided_at_ns=self._clock.now_ns(),
            score=score,
            outcome=outcome,
            reasons=reasons + fired,
            policy_version=self._policy.version,
            model_version=self._version,
            features=features,
            latency=StageLatency(features_total, models_ns, decision_ns),
            degraded=tuple(degraded),
            explanation=_with_stages(
                explanation, stage_ns, self._reports(results, weights), features.missing
            ),
        )
        if self._log is not None:
            self._log.append(record)
        return record

    def score_batch(self, inputs: FloatArray) -> BatchScores:
        """Score a matrix of rows with every component; no budgets, records or explanations."""
        probabilities, fired = ensemble_probabilities(
            self._components, self._combiner, self._calibration, inputs
        )
        outcomes = (probabilities >= self._policy.step_up_at).astype(np.int8) + (
            probabilities >= self._policy.decline_at
        ).astype(np.int8)
        return BatchScores(probabilities, outcomes, fired)

    def _row(self, transaction: Transaction, features: FeatureVector) -> FloatArray:
        return np.asarray(self._inputs.assemble([transaction], [features])[0], dtype=np.float64)

    def _run(self, component: ComponentScorer, row: FloatArray) -> _ComponentResult:
        watch = self._stopwatch
        started = watch.ticks_ns()
        result = _ComponentResult(None, None, 0, None)
        try:
            if isinstance(component, RulesScorer):
                fired, log_odds, floor = component.engine.evaluate_row(row.tolist())
                result.fired, result.floor, result.log_odds = fired, floor, log_odds
                result.explanation = component.explain_row(row)
            elif component.explanation_method is ExplanationMethod.OFFLINE:
                result.log_odds = float(logit(np.array(component.score_row(row))))
            else:
                # An exact explanation sums to the component's log-odds (local accuracy),
                # so the score comes from it and the model runs once per decision.
                explanation = component.explain_row(row)
                result.explanation = explanation
                result.log_odds = explanation.base_log_odds + math.fsum(explanation.contributions)
        # A broken component must degrade the decision, not fail it, whatever it raises;
        # the record names the exception.
        except Exception as error:
            result = _ComponentResult(None, None, 0, f"raised {type(error).__name__}: {error}")

        ended = watch.ticks_ns()
        if result.log_odds is not None and not math.isfinite(result.log_odds):
            result = _ComponentResult(
                None, None, 0, f"returned a non-finite score {result.log_odds}"
            )
        result.elapsed_ns = ended - started
        budget_ns = self._budgets.models_ms * NS_PER_MS
        if result.left_out is None and result.elapsed_ns > budget_ns:
            result = _ComponentResult(
                None,
                None,
                result.elapsed_ns,
                f"took {result.elapsed_ns / NS_PER_MS:.2f} ms, over the "
                f"{self._budgets.models_ms} ms budget",
            )
        self._tracer.record_stage(
            f"model:{component.name}",
            started,
            ended,
            {"version": component.version, "left_out": result.left_out or ""},
        )
        return result

    def _explain(
        self,
        results: Sequence[_ComponentResult],
        weights: Sequence[float],
        combined: float,
        calibrated: float,
        floor: float,
        fired: tuple[str, ...],
    ) -> DecisionExplanation:
        totals = np.zeros(len(self._inputs.names))
        offline = []
        for component, result, weight in zip(self._components, results, weights, strict=True):
            if result.log_odds is None:
                continue
            if result.explanation is None:
                offline.append(component.name)
                continue
            totals += weight * np.asarray(result.explanation.contributions)
        order = np.argsort(totals, kind="stable")
        names = self._inputs.names
        positive = tuple(
            (names[i], float(totals[i])) for i in order[::-1][:TOP_CONTRIBUTIONS] if totals[i] > 0
        )
        negative = tuple(
            (names[i], float(totals[i])) for i in order[:TOP_CONTRIBUTIONS] if totals[i] < 0
        )
        return DecisionExplanation(
            top_positive=positive,
            top_negative=negative,
            reason_codes=fired,
            combined_log_odds=combined,
            calibrated_probability=calibrated,
            floor=floor if floor > 0 else None,
            components=(),
            explained_offline=tuple(offline),
            stage_ns=(),
        )

    def _reports(
        self, results: Sequence[_ComponentResult], weights: Sequence[float]
    ) -> tuple[ComponentReport, ...]:
        return tuple(
            ComponentReport(
                name=component.name,
                version=component.version,
                log_odds=result.log_odds,
                weight=None if result.log_odds is None else weight,
                explanation_method=component.explanation_method.value,
                elapsed_ns=result.elapsed_ns,
                left_out=result.left_out,
            )
            for component, result, weight in zip(self._components, results, weights, strict=True)
        )


def _with_stages(
    explanation: DecisionExplanation,
    stage_ns: tuple[tuple[str, int], ...],
    reports: tuple[ComponentReport, ...],
    null_inputs: tuple[str, ...],
) -> DecisionExplanation:
    return DecisionExplanation(
        top_positive=explanation.top_positive,
        top_negative=explanation.top_negative,
        reason_codes=explanation.reason_codes,
        combined_log_odds=explanation.combined_log_odds,
        calibrated_probability=explanation.calibrated_probability,
        floor=explanation.floor,
        components=reports,
        explained_offline=explanation.explained_offline,
        stage_ns=stage_ns,
        null_inputs=null_inputs,
    )


OUTCOME_BY_CODE = (Outcome.APPROVE, Outcome.STEP_UP, Outcome.DECLINE)
"""Outcomes by the codes of ``BatchScores.outcomes``."""


def ensemble_probabilities(
    components: Sequence[ComponentScorer],
    combiner: WeightedCombiner,
    calibration: Calibration,
    inputs: FloatArray,
) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
    """Return calibrated probabilities, rule floors applied, and the rules that fired."""
    log_odds = np.empty((inputs.shape[0], len(components)))
    floor = np.zeros(inputs.shape[0])
    fired = np.zeros((inputs.shape[0], 0), dtype=np.bool_)
    for column, component in enumerate(components):
        if isinstance(component, RulesScorer):
            hits = component.engine.evaluate(inputs)
            log_odds[:, column] = hits.log_odds
            floor, fired = hits.floor, hits.fired
        else:
            log_odds[:, column] = logit(component.score_matrix(inputs))
    combined = combiner.combine(log_odds)
    return np.maximum(calibration.probabilities(combined), floor), fired


class EnsembleScorer:
    """The ensemble behind the single-model Scorer port, for batch replays.

    It scores like ``EnsembleDecider.score_batch``: no time budgets and no explanations.
    """

    def __init__(
        self,
        components: Sequence[ComponentScorer],
        combiner: WeightedCombiner,
        calibration: Calibration,
        version: str,
    ) -> None:
        self._components = tuple(components)
        self._combiner = combiner
        self._calibration = calibration
        self._version = version
        self._input_names = components[0].input_names

    @property
    def version(self) -> str:
        return self._version

    @property
    def input_names(self) -> tuple[str, ...]:
        return self._input_names

    def score_matrix(self, inputs: FloatArray) -> FloatArray:
        probabilities, _ = ensemble_probabilities(
            self._components, self._combiner, self._calibration, inputs
        )
        return probabilities


class EnsembleDecisionService:
    """The ensemble behind the batch interface the serving entrypoint calls.

    Each assessment is decided on its own, with its budgets and explanation; a degraded
    assessment is decided by the rules alone (see ``EnsembleDecider.decide``).
    """

    def __init__(self, decider: EnsembleDecider, log: DecisionLog) -> None:
        self._decider = decider
        self._log = log

    def decide_assessed(self, assessments: Sequence[Assessment]) -> list[DecisionRecord]:
        records = []
        for assessment in assessments:
            record = self._decider.decide(
                assessment.transaction,
                assessment.features,
                assessment.features_ns,
                assessment.degraded,
            )
            self._log.append(record)
            records.append(record)
        return records
