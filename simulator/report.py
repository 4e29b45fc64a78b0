"""The scenario report: what was decided, how well, and how fast."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt

from twinbank.core.decisions import Outcome
from twinbank.core.evaluation import auc_roc, average_precision, card_precision_at_k
from twinbank.core.timestamps import to_datetime

from .run import RunResult
from .twin import OUTCOME_CODES

# Published figures of the handbook's baseline XGBoost on its test week (2018-08-08 to
# 2018-08-14), from "Reproducible Machine Learning for Credit Card Fraud Detection -
# Practical Handbook", baseline modelling chapter.
HANDBOOK_XGBOOST = {"auc_roc": 0.862, "average_precision": 0.639, "card_precision_at_100": 0.273}

_EPOCH = date(1970, 1, 1)


def build_report(result: RunResult) -> dict[str, Any]:
    """Return the report as JSON-ready data."""
    trace = result.trace
    dataset = result.dataset
    order = _trace_to_dataset_order(result)
    scores = np.frombuffer(trace.scores, dtype=np.float64)[order]
    outcomes = np.frombuffer(trace.outcomes, dtype=np.int8)[order]
    model = result.model
    return {
        "scenario": result.scenario.name,
        "source": dataset.description,
        "transactions": len(dataset),
        "labels_revealed": trace.labels,
        "simulated_period": {
            "first_transaction": to_datetime(int(dataset.timestamp_ns[0])).isoformat(),
            "last_transaction": to_datetime(int(dataset.timestamp_ns[-1])).isoformat(),
        },
        "feature_set": {"name": result.feature_set.name, "version": result.feature_set.version},
        "model": _model_section(result),
        "policy": result.scenario.policy.model_dump(),
        "decisions": {
            outcome.value: int((outcomes == code).sum()) for outcome, code in OUTCOME_CODES.items()
        },
        "fraud": _fraud_section(dataset.is_fraud, outcomes),
        "metrics": _metrics_section(result, scores),
        "latency_us": {
            "total": _percentiles(_total_latency(trace) / 1e3),
            "features": _percentiles(np.frombuffer(trace.features_ns, dtype=np.int64) / 1e3),
            "scoring": _percentiles(np.frombuffer(trace.scoring_ns, dtype=np.int64) / 1e3),
            "policy": _percentiles(np.frombuffer(trace.policy_ns, dtype=np.int64) / 1e3),
            "measured_as": "wall time inside the core per decision; batch scoring time is "
            "divided evenly over the batch",
        },
        "simulated_decision_wait_seconds": _percentiles(
            np.frombuffer(trace.wait_ns, dtype=np.int64) / 1e9
        ),
        "throughput": {
            "replay_wall_seconds": round(result.replay_seconds, 3),
            "total_wall_seconds": round(result.total_seconds, 3),
            "training_wall_seconds": round(model.seconds, 3),
            "decisions_per_second": round(len(scores) / result.replay_seconds, 1)
            if result.replay_seconds > 0
            else None,
            "scoring_batches": trace.batches,
        },
        "decision_log": {"records": result.decisions_logged},
    }


def _trace_to_dataset_order(result: RunResult) -> npt.NDArray[np.int64]:
    """Return indices that put the trace's decisions in dataset order."""
    decided = np.frombuffer(result.trace.transaction_ids, dtype=np.int64)
    ids = result.dataset.transaction_id
    if len(decided) != len(ids):
        raise RuntimeError(
            f"the twin decided {len(decided)} transactions of {len(ids)}; every transaction "
            "must be decided exactly once"
        )
    by_id = np.argsort(decided, kind="stable")
    position = np.searchsorted(decided[by_id], ids)
    return by_id[position]


def _model_section(result: RunResult) -> dict[str, Any]:
    model = result.model
    protocol = model.protocol
    dataset = result.dataset
    split = model.split
    labels = dataset.is_fraud
    assert labels is not None
    return {
        "kind": result.scenario.model.kind,
        "version": model.scorer.version,
        "inputs": list(model.scorer.input_names),
        "hyperparameters": result.scenario.model.hyperparameters.model_dump(),
        "training": {
            "first_day": _day(protocol.training_start_day),
            "last_day": _day(protocol.training_end_day - 1),
            "transactions": int(split.training.sum()),
            "frauds": int(labels[split.training].sum()),
        },
    }


def _fraud_section(
    labels: npt.NDArray[np.bool_] | None, outcomes: npt.NDArray[np.int8]
) -> dict[str, Any]:
    if labels is None:
        return {"labelled": False}
    declined = outcomes == OUTCOME_CODES[Outcome.DECLINE]
    stepped_up = outcomes == OUTCOME_CODES[Outcome.STEP_UP]
    flagged = declined | stepped_up
    frauds = int(labels.sum())
    legitimate = int((~labels).sum())
    caught = int((flagged & labels).sum())
    false_positives = int((flagged & ~labels).sum())
    return {
        "labelled": True,
        "frauds": frauds,
        "caught": {
            "declined": int((declined & labels).sum()),
            "stepped_up": int((stepped_up & labels).sum()),
            "total": caught,
        },
        "missed": frauds - caught,
        "false_positives": {
            "declined": int((declined & ~labels).sum()),
            "stepped_up": int((stepped_up & ~labels).sum()),
            "total": false_positives,
        },
        "detection_rate": round(caught / frauds, 4) if frauds else None,
        "false_positive_rate": round(false_positives / legitimate, 6) if legitimate else None,
    }


def _metrics_section(result: RunResult, scores: npt.NDArray[np.float64]) -> dict[str, Any]:
    dataset = result.dataset
    model = result.model
    test = model.split.test
    labels = dataset.is_fraud
    assert labels is not None
    section: dict[str, Any] = {
        "test_period": {
            "first_day": _day(model.protocol.test_start_day),
            "last_day": _day(model.protocol.test_end_day - 1),
            "transactions": int(test.sum()),
            "frauds": int(labels[test].sum()),
            "removed_known_compromised": int(model.split.removed_from_test.sum()),
        },
        "handbook_published_xgboost": HANDBOOK_XGBOOST,
    }
    if not test.any() or labels[test].all() or not labels[test].any():
        section["twin"] = None
        section["note"] = "the test period needs both frauds and legitimate transactions"
        return section
    days = dataset.epoch_days[test]
    cards = dataset.customer_id[test]
    section["twin"] = _three_metrics(days, cards, labels[test], scores[test])
    section["offline_batch"] = _three_metrics(days, cards, labels[test], model.offline_test_scores)
    section["twin_equals_offline"] = bool(
        np.allclose(scores[test], model.offline_test_scores, rtol=0, atol=1e-6)
    )
    return section


def _three_metrics(days: Any, cards: Any, labels: Any, scores: Any) -> dict[str, float]:
    return {
        "auc_roc": round(auc_roc(labels, scores), 4),
        "average_precision": round(average_precision(labels, scores), 4),
        "card_precision_at_100": round(
            card_precision_at_k(days, cards, labels, scores, 100).mean, 4
        ),
    }


def _total_latency(trace: Any) -> npt.NDArray[np.float64]:
    return (
        np.frombuffer(trace.features_ns, dtype=np.int64)
        + np.frombuffer(trace.scoring_ns, dtype=np.int64)
        + np.frombuffer(trace.policy_ns, dtype=np.int64)
    ).astype(np.float64)


def _percentiles(values: npt.NDArray[np.float64]) -> dict[str, float] | None:
    if len(values) == 0:
        return None
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return {
        "p50": round(float(p50), 3),
        "p95": round(float(p95), 3),
        "p99": round(float(p99), 3),
        "mean": round(float(values.mean()), 3),
        "max": round(float(values.max()), 3),
    }


def _day(epoch_day: int) -> str:
    return (_EPOCH + timedelta(days=epoch_day)).isoformat()
