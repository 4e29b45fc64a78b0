"""Stage spans of ensemble decisions, and their explanation in the HTTP response."""

from __future__ import annotations

import numpy as np
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from twinbank.adapters.clocks import PerfCounterStopwatch, WallClock
from twinbank.adapters.telemetry import OpenTelemetryStageTracer
from twinbank.core.decisions import DecisionPolicy
from twinbank.core.ensemble import (
    ComponentExplanation,
    EnsembleDecider,
    ExplanationMethod,
    PlattCalibration,
    WeightedCombiner,
)
from twinbank.core.features.vector import FeatureVector
from twinbank.core.modeling import ModelInputs
from twinbank.core.transactions import Transaction
from twinbank.entrypoints.http.app import explanation_body
from twinbank.entrypoints.http.schemas import Explanation

INPUTS = ModelInputs(("amount", "risk"), ("risk",))


class Linear:
    name = "linear"
    version = "linear-1"
    input_names = INPUTS.names
    explanation_method = ExplanationMethod.TREE_SHAP

    def score_matrix(self, inputs):
        return 1 / (1 + np.exp(-(inputs[:, 0] / 100 - 2)))

    def score_row(self, row) -> float:
        return float(self.score_matrix(row.reshape(1, -1))[0])

    def explain_row(self, row) -> ComponentExplanation:
        return ComponentExplanation(-2.0, (row[0] / 100, 0.0))


class Broken(Linear):
    name = "broken"

    def score_row(self, row) -> float:
        raise ValueError("NaN weights")

    def explain_row(self, row) -> ComponentExplanation:
        raise ValueError("NaN weights")


def decide_traced():
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    decider = EnsembleDecider(
        INPUTS,
        [Linear(), Broken()],
        WeightedCombiner(("linear", "broken"), (1.0, 1.0)),
        PlattCalibration(1.0, 0.0),
        DecisionPolicy(),
        PerfCounterStopwatch(),
        WallClock(),
        tracer=OpenTelemetryStageTracer(provider.get_tracer("test")),
    )
    record = decider.decide(
        Transaction(1, 0, 2, 3, 150.0), FeatureVector(("risk",), (0.1,), "fs-1")
    )
    return record, exporter.get_finished_spans()


def test_every_stage_becomes_a_span():
    _, spans = decide_traced()
    names = [span.name for span in spans]
    assert names == [
        "decision.features",
        "decision.model:linear",
        "decision.model:broken",
        "decision.decision",
    ]
    assert all(span.end_time >= span.start_time for span in spans)


def test_left_out_component_is_a_span_attribute():
    _, spans = decide_traced()
    broken = next(span for span in spans if span.name == "decision.model:broken")
    assert broken.attributes["twinbank.left_out"] == "raised ValueError: NaN weights"


def test_explanation_maps_into_response():
    record, _ = decide_traced()
    body = explanation_body(record.explanation)
    parsed = Explanation.model_validate(body)
    assert parsed.top_positive[0].feature == "amount"
    assert parsed.top_positive[0].contribution == 1.5 * 2  # weight renormalized to 2
    assert parsed.left_out == {"broken": "raised ValueError: NaN weights"}


def test_record_without_explanation_maps_to_null():
    assert explanation_body(None) is None
