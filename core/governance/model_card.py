"""Model cards generated from an inventory record and its evaluation evidence.

The sections follow the model-card layout that model risk teams and public model
hubs use: model details, intended use, factors, metrics, evaluation data, training
data, quantitative analyses, ethical considerations, caveats and recommendations;
a governance section adds the gates and the lifecycle history. Every statement is
derived from the record and the evidence, none is written by hand here.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from ..fairness.disparate_impact import AttributeReport, GroupStatus
from ..fairness.markdown import attribute_table, format_p_value
from ..fairness.report import FairnessReport
from .evidence import PerformanceEvidence
from .inventory import Gate, ModelRecord, ModelStatus
from .tiers import required_gates, revalidation_months


class CardMetric(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    value: float
    lower: float | None
    upper: float | None
    confidence: float
    method: str
    threshold: float | None
    meets_threshold: bool | None


class CardGate(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    gate: Gate
    required: bool
    passed: bool | None
    recorded_by: str | None = None
    role: str | None = None
    recorded_at: str | None = None
    evidence_sha256: str | None = None


class ModelCard(BaseModel):
    """A model card as data; ``markdown`` renders it."""

    model_config = ConfigDict(frozen=True, extra="forbid", protected_namespaces=())

    model_details: dict[str, Any]
    intended_use: dict[str, Any]
    factors: dict[str, Any]
    metrics: list[CardMetric]
    evaluation_data: str | None
    training_data: dict[str, Any]
    quantitative_analyses: list[AttributeReport]
    fairness_gate: str
    ethical_considerations: list[str]
    caveats_and_recommendations: list[str]
    governance: dict[str, Any]
    generated_at: str

    def markdown(self) -> str:
        return _markdown(self)


def build_model_card(
    record: ModelRecord,
    at_ns: int,
    performance: PerformanceEvidence | None = None,
    fairness: FairnessReport | None = None,
) -> ModelCard:
    """Return the card of a model version as of ``at_ns``.

    Evidence comes from the record's performance and fairness gate results unless
    ``performance`` or ``fairness`` is given (for example evidence not yet recorded).
    """
    performance = performance or _recorded(record, Gate.PERFORMANCE, PerformanceEvidence)
    fairness = fairness or _recorded(record, Gate.FAIRNESS, FairnessReport)
    metrics = _metrics(record, performance)
    analyses = list(fairness.attributes) if fairness else []
    return ModelCard(
        model_details=_details(record),
        intended_use={
            "intended_use": record.intended_use,
            "material_use": record.material_use,
            "out_of_scope_uses": list(record.out_of_scope_uses),
            "fair_lending": record.fair_lending,
            "decisions_per_year": record.decisions_per_year,
            "financial_exposure": record.financial_exposure.model_dump(),
        },
        factors={
            "protected_attributes": {
                analysis.attribute: [group.group for group in analysis.groups]
                for analysis in analyses
            },
            "population": fairness.population if fairness else None,
            "decision_rule": fairness.decision_rule if fairness else None,
        },
        metrics=metrics,
        evaluation_data=performance.evaluation_data if performance else None,
        training_data={
            "description": performance.training_data if performance else None,
            "lineage": record.lineage.model_dump(),
        },
        quantitative_analyses=analyses,
        fairness_gate=_fairness_gate(fairness),
        ethical_considerations=_ethical_considerations(record, fairness),
        caveats_and_recommendations=_caveats(record, metrics, fairness, at_ns),
        governance=_governance(record),
        generated_at=_iso(at_ns) or "",
    )


def _recorded(record: ModelRecord, gate: Gate, kind: type[Any]) -> Any:
    result = record.gate_results.get(gate)
    if result is None:
        return None
    fields = {name: value for name, value in result.evidence.items() if name in kind.model_fields}
    try:
        return kind.model_validate(fields)
    except ValidationError:
        return None


def _details(record: ModelRecord) -> dict[str, Any]:
    return {
        "model_id": record.model_id,
        "name": record.name,
        "version": record.version,
        "description": record.description,
        "owner": record.owner,
        "builders": list(record.builders),
        "risk_tier": int(record.risk_tier),
        "status": record.status.value,
        "registered_at": _iso(record.registered_at_ns),
        "last_validation": _iso(record.last_validation_ns),
        "next_validation": _iso(record.next_validation_ns),
        "revalidation_months": revalidation_months(record),
        "compliance_status": record.compliance_status.value,
    }


def _metrics(record: ModelRecord, performance: PerformanceEvidence | None) -> list[CardMetric]:
    if performance is None:
        return []
    metrics = []
    for name, estimate in performance.metrics.items():
        threshold = record.performance_thresholds.get(name)
        metrics.append(
            CardMetric(
                name=name,
                value=estimate.value,
                lower=estimate.lower,
                upper=estimate.upper,
                confidence=estimate.confidence,
                method=estimate.method,
                threshold=threshold,
                meets_threshold=None if threshold is None else estimate.value >= threshold,
            )
        )
    return metrics


def _fairness_gate(fairness: FairnessReport | None) -> str:
    if fairness is None:
        return "no fairness analysis recorded"
    if fairness.passed:
        return "passed: no significant four-fifths violation"
    return "failed: " + "; ".join(
        f"{finding.attribute} = {finding.group} (ratio {finding.ratio:.3f})"
        for finding in fairness.findings
    )


def _ethical_considerations(record: ModelRecord, fairness: FairnessReport | None) -> list[str]:
    notes = []
    if record.fair_lending:
        notes.append(
            "The model makes or informs credit decisions about people, so fair-lending rules "
            "apply and the fairness gate is required at every risk tier."
        )
    if fairness is None:
        if Gate.FAIRNESS in required_gates(record):
            notes.append("No fairness analysis has been recorded, although the tier requires one.")
        return notes
    for analysis in fairness.attributes:
        for group in analysis.groups:
            comparison = group.approval
            ratio = comparison.ratio if comparison.ratio is not None else float("nan")
            if group.status is GroupStatus.ADVERSE_IMPACT:
                notes.append(
                    f"Significant adverse impact on {analysis.attribute} = {group.group}: "
                    f"approval rate {comparison.rate:.3f} against {analysis.reference_group}'s, "
                    f"impact ratio {ratio:.3f}, p = {format_p_value(comparison.adjusted_p_value)}."
                )
            elif group.status is GroupStatus.BELOW_THRESHOLD_NOT_SIGNIFICANT:
                notes.append(
                    f"{analysis.attribute} = {group.group} ({group.applicants} applicants) has an "
                    f"impact ratio of {ratio:.3f}, below the four-fifths threshold, but the "
                    f"difference is not significant (p = "
                    f"{format_p_value(comparison.adjusted_p_value)}); the group is too small to "
                    "tell, so watch it in monitoring."
                )
            opportunity = group.equal_opportunity
            if opportunity is not None and opportunity.comparison.significant:
                notes.append(
                    f"Equal opportunity: creditworthy applicants in {analysis.attribute} = "
                    f"{group.group} are approved at a rate "
                    f"{opportunity.comparison.difference:+.3f} from the reference group's "
                    f"(p = {format_p_value(opportunity.comparison.adjusted_p_value)})."
                )
    if not any(analysis.groups for analysis in fairness.attributes):
        notes.append("The fairness analysis covers no group.")
    return notes


def _caveats(
    record: ModelRecord,
    metrics: list[CardMetric],
    fairness: FairnessReport | None,
    at_ns: int,
) -> list[str]:
    caveats = [f"Known limitation: {limitation}" for limitation in record.limitations]
    if record.status is not ModelStatus.PRODUCTION and record.status is not ModelStatus.MONITORING:
        caveats.append(
            f"This version is in {record.status.value}; it must not make live decisions."
        )
    missing = sorted(gate.value for gate in required_gates(record) if not record.passed(gate))
    if missing:
        caveats.append(f"Required gates not passed in this review: {', '.join(missing)}.")
    if not metrics:
        caveats.append("No performance evidence is recorded; the metrics section is empty.")
    for metric in metrics:
        if metric.lower is None:
            caveats.append(f"{metric.name} is reported without a confidence interval.")
        elif metric.threshold is not None and metric.lower < metric.threshold <= metric.value:
            caveats.append(
                f"{metric.name} meets its threshold {metric.threshold:g} but the lower bound of "
                f"its interval ({metric.lower:.3f}) does not; re-measure on more data."
            )
        if metric.meets_threshold is False:
            caveats.append(
                f"{metric.name} = {metric.value:.3f} is below its threshold {metric.threshold:g}."
            )
    if fairness is not None and not fairness.passed:
        caveats.append("Do not approve for production until the adverse impact is remediated.")
    if record.is_serving and record.next_validation_ns is not None:
        if record.next_validation_ns <= at_ns:
            caveats.append(
                f"Validation is overdue since {_iso(record.next_validation_ns)}; revalidate now."
            )
        else:
            caveats.append(f"Next validation due {_iso(record.next_validation_ns)}.")
    if record.compliance_status.value in {"findings_open", "non_compliant"}:
        caveats.append(f"Compliance status: {record.compliance_status.value.replace('_', ' ')}.")
    return caveats


def _governance(record: ModelRecord) -> dict[str, Any]:
    required = required_gates(record)
    gates = []
    for gate in Gate:
        result = record.gate_results.get(gate)
        gates.append(
            CardGate(
                gate=gate,
                required=gate in required,
                passed=None if result is None else result.passed,
                recorded_by=None if result is None else result.recorded_by,
                role=None if result is None else result.role.value,
                recorded_at=None if result is None else _iso(result.recorded_at_ns),
                evidence_sha256=(result.evidence_sha256 or None) if result else None,
            ).model_dump(mode="json")
        )
    history = [
        {
            "at": _iso(change.at_ns),
            "from": change.from_status.value if change.from_status else None,
            "to": change.to_status.value,
            "action": change.action,
            "actor": change.actor,
            "role": change.role.value if change.role else None,
            "reason": change.reason,
        }
        for change in record.history
    ]
    return {"review_cycle": record.review_cycle, "gates": gates, "history": history}


def _iso(time_ns: int | None) -> str | None:
    if time_ns is None:
        return None
    seconds = time_ns // 1_000_000_000
    return datetime.fromtimestamp(seconds, tz=UTC).isoformat().replace("+00:00", "Z")


def _markdown(card: ModelCard) -> str:
    details = card.model_details
    use = card.intended_use
    exposure = use["financial_exposure"]
    lines = [
        f"# Model card: {details['model_id']}",
        "",
        f"Generated {card.generated_at} from the model inventory and its recorded evidence.",
        "",
        "## Model details",
        "",
        details["description"] or "(no description registered)",
        "",
        f"- Name and version: {details['name']} {details['version']}",
        f"- Risk tier: {details['risk_tier']}; status: {details['status']}; compliance: "
        f"{details['compliance_status'].replace('_', ' ')}",
        f"- Owner: {details['owner']}; built by: {', '.join(details['builders'])}",
        f"- Registered: {details['registered_at']}",
        f"- Last validation: {details['last_validation'] or 'never'}; next due: "
        f"{details['next_validation'] or 'after the first validation'} (every "
        f"{details['revalidation_months']} months)",
        "",
        "## Intended use",
        "",
        use["intended_use"] or "(no intended use registered)",
        "",
        f"- Material use: {use['material_use']}",
        f"- Decisions per year: {use['decisions_per_year']:,}; financial exposure: "
        f"{exposure['amount']:,.0f} {exposure['currency']}",
        f"- Fair-lending scope: {'yes' if use['fair_lending'] else 'no'}",
    ]
    lines += [f"- Out of scope: {item}" for item in use["out_of_scope_uses"]]
    lines += ["", "## Factors", ""]
    factors = card.factors
    if factors["protected_attributes"]:
        for attribute, groups in factors["protected_attributes"].items():
            lines.append(f"- {attribute}: {', '.join(groups)}")
        lines += [
            f"- Population analysed: {factors['population']}",
            f"- Decision rule: {factors['decision_rule']}",
        ]
    else:
        lines.append("No protected attributes analysed.")
    lines += ["", "## Metrics", ""]
    if card.metrics:
        lines += [
            "| metric | value | interval | method | threshold | meets threshold |",
            "| --- | ---: | --- | --- | ---: | --- |",
        ]
        for metric in card.metrics:
            interval = (
                "–"
                if metric.lower is None or metric.upper is None
                else f"[{metric.lower:.3f}, {metric.upper:.3f}] ({metric.confidence:.0%})"
            )
            threshold = "–" if metric.threshold is None else f"{metric.threshold:g}"
            meets = {None: "–", True: "yes", False: "no"}[metric.meets_threshold]
            lines.append(
                f"| {metric.name} | {metric.value:.3f} | {interval} | {metric.method or '–'} | "
                f"{threshold} | {meets} |"
            )
    else:
        lines.append("No performance evidence recorded.")
    lines += [
        "",
        "## Evaluation data",
        "",
        card.evaluation_data or "Not recorded.",
        "",
        "## Training data",
        "",
        card.training_data["description"] or "Not described.",
        "",
    ]
    lineage = card.training_data["lineage"]
    lines += [
        f"- Training data version: {lineage['training_data_version']}",
        f"- Feature pipeline version: {lineage['feature_pipeline_version']}",
        f"- Training run: {lineage['training_run']}",
        "",
        "## Quantitative analyses",
        "",
    ]
    if card.quantitative_analyses:
        for analysis in card.quantitative_analyses:
            lines += [
                f"### {analysis.attribute} (reference: {analysis.reference_group})",
                "",
                attribute_table(analysis),
                "",
            ]
    else:
        lines += ["No analysis by group recorded.", ""]
    lines += [f"Fairness gate: {card.fairness_gate}.", "", "## Ethical considerations", ""]
    lines += [f"- {note}" for note in card.ethical_considerations] or ["None recorded."]
    lines += ["", "## Caveats and recommendations", ""]
    lines += [f"- {caveat}" for caveat in card.caveats_and_recommendations] or ["None."]
    governance = card.governance
    lines += [
        "",
        "## Governance",
        "",
        f"Review cycle {governance['review_cycle']}.",
        "",
        "| gate | required | result | by | role | at |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for gate in governance["gates"]:
        result = {None: "not recorded", True: "passed", False: "failed"}[gate["passed"]]
        lines.append(
            f"| {gate['gate']} | {'yes' if gate['required'] else 'no'} | {result} | "
            f"{gate['recorded_by'] or '–'} | {gate['role'] or '–'} | {gate['recorded_at'] or '–'} |"
        )
    lines += [
        "",
        "| at | from | to | action | by | reason |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for change in governance["history"]:
        lines.append(
            f"| {change['at']} | {change['from'] or '–'} | {change['to']} | {change['action']} | "
            f"{change['actor']} ({change['role'] or '–'}) | {change['reason'] or '–'} |"
        )
    return "\n".join(lines) + "\n"
