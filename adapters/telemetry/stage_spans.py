"""Decision stages as OpenTelemetry spans (the core's StageTracer port)."""

from __future__ import annotations

import time
from collections.abc import Mapping

from opentelemetry import trace


class OpenTelemetryStageTracer:
    """Turns each stage into a span named ``decision.<stage>``.

    The core reports Stopwatch readings (``time.perf_counter_ns``); spans need epoch
    nanoseconds, so the tracer adds the offset between the two clocks, read once at
    construction.
    """

    def __init__(self, tracer: trace.Tracer) -> None:
        self._tracer = tracer
        self._offset_ns = time.time_ns() - time.perf_counter_ns()

    def record_stage(
        self, name: str, started_ns: int, ended_ns: int, attributes: Mapping[str, str | float]
    ) -> None:
        span = self._tracer.start_span(
            f"decision.{name}",
            start_time=started_ns + self._offset_ns,
            attributes={f"twinbank.{key}": value for key, value in attributes.items()},
        )
        span.end(end_time=ended_ns + self._offset_ns)
