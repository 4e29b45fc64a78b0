"""Telemetry adapters."""

from .stage_spans import OpenTelemetryStageTracer

__all__ = ["OpenTelemetryStageTracer"]
