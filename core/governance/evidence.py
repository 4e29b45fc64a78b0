"""Evidence behind the three evidence gates, and how each gate judges it.

Documentation is judged by the validator. Performance and fairness are judged by rule
from the evidence, so a validator cannot pass a model whose metrics miss its
thresholds or whose fairness report shows a significant four-fifths violation.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..fairness.report import FairnessReport
from .errors import InvalidEvidence
from .inventory import Gate, ModelRecord


class DocumentationEvidence(BaseModel):
    """The validator's review of the model's documentation."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    reference: str = Field(min_length=1, description="Where the reviewed documents are.")
    complete: bool
    findings: tuple[str, ...] = ()


class MetricEstimate(BaseModel):
    """A metric measured on evaluation data, with its confidence interval when known."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    value: float
    lower: float | None = None
    upper: float | None = None
    confidence: float = Field(default=0.95, gt=0, lt=1)
    method: str = ""


class PerformanceEvidence(BaseModel):
    """Metrics of one model version measured on named evaluation data."""

    model_config = ConfigDict(frozen=True, extra="forbid", protected_namespaces=())

    model: str = Field(description="The model id (NAME@VERSION) the metrics belong to.")
    evaluation_data: str
    training_data: str = ""
    metrics: dict[str, MetricEstimate]


GateEvidence = DocumentationEvidence | PerformanceEvidence | FairnessReport


def gate_of(evidence: GateEvidence) -> Gate:
    if isinstance(evidence, DocumentationEvidence):
        return Gate.DOCUMENTATION
    if isinstance(evidence, PerformanceEvidence):
        return Gate.PERFORMANCE
    return Gate.FAIRNESS


def judge(record: ModelRecord, evidence: GateEvidence) -> tuple[bool, dict[str, Any]]:
    """Return whether the evidence passes its gate for this model, and the evidence as
    plain data with the checks that decided it.

    Raises InvalidEvidence when the evidence is about another model or lacks a metric
    that the model's thresholds name.
    """
    if isinstance(evidence, DocumentationEvidence):
        return evidence.complete, evidence.model_dump(mode="json")
    if isinstance(evidence, PerformanceEvidence):
        return _judge_performance(record, evidence)
    return _judge_fairness(record, evidence)


def _judge_performance(
    record: ModelRecord, evidence: PerformanceEvidence
) -> tuple[bool, dict[str, Any]]:
    _require_same_model(record, Gate.PERFORMANCE, evidence.model)
    checks = []
    for metric, minimum in sorted(record.performance_thresholds.items()):
        estimate = evidence.metrics.get(metric)
        if estimate is None:
            raise InvalidEvidence(
                record.model_id,
                Gate.PERFORMANCE,
                f"the threshold names {metric!r} but the evidence has only "
                f"{sorted(evidence.metrics)}; measure {metric} on the evaluation data",
            )
        checks.append(
            {
                "metric": metric,
                "value": estimate.value,
                "minimum": minimum,
                "passed": estimate.value >= minimum,
                "interval_clears_minimum": None
                if estimate.lower is None
                else estimate.lower >= minimum,
            }
        )
    plain = evidence.model_dump(mode="json")
    plain["checks"] = checks
    return all(check["passed"] for check in checks), plain


def _judge_fairness(record: ModelRecord, report: FairnessReport) -> tuple[bool, dict[str, Any]]:
    _require_same_model(record, Gate.FAIRNESS, report.model)
    if not report.attributes:
        raise InvalidEvidence(
            record.model_id, Gate.FAIRNESS, "the fairness report analyses no attribute"
        )
    plain = report.model_dump(mode="json")
    plain["findings"] = [finding.model_dump(mode="json") for finding in report.findings]
    return report.passed, plain


def _require_same_model(record: ModelRecord, gate: Gate, model: str) -> None:
    if model != record.model_id:
        raise InvalidEvidence(
            record.model_id,
            gate,
            f"the evidence is about {model!r}, not {record.model_id!r}; measure this version",
        )
