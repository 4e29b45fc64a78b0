"""OpenTelemetry tracing of decisions: one span per decision, one child per stage."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

from .settings import TelemetrySettings


def build_tracer_provider(
    settings: TelemetrySettings, extra_processor: SpanProcessor | None = None
) -> TracerProvider | None:
    """Return a provider exporting as configured, or None when tracing is off.

    ``extra_processor`` (tests pass one over an in-memory exporter) is added on top.
    The provider is not installed globally, so several services in one process keep
    their traces apart.
    """
    if settings.exporter == "none" and extra_processor is None:
        return None
    provider = TracerProvider(resource=Resource.create({"service.name": settings.service_name}))
    if settings.exporter == "console":
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    elif settings.exporter == "otlp":
        # Imported here: the gRPC exporter is heavy and only this setting needs it.
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (  # noqa: PLC0415
            OTLPSpanExporter,
        )

        provider.add_span_processor(
            BatchSpanProcessor(OTLPSpanExporter(endpoint=settings.otlp_endpoint, insecure=True))
        )
    if extra_processor is not None:
        provider.add_span_processor(extra_processor)
    return provider


def tracer_from(provider: TracerProvider | None) -> trace.Tracer:
    if provider is None:
        return trace.NoOpTracer()
    return provider.get_tracer("twinbank.entrypoints.http")
