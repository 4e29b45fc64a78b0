"""Prometheus metrics of the decision service, in a registry of its own.

Route labels are route templates (``/v1/governance/models/{model_id}``), never raw
paths, so that label values stay few whatever clients send.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Buckets from 0.25 ms to 1 s, dense around the 25 ms decision target.
LATENCY_BUCKETS = (
    0.00025, 0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.025,
    0.03, 0.04, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0,
)  # fmt: skip


class ServiceMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        self.requests = Counter(
            "twinbank_http_requests",
            "HTTP requests answered, by route template, method and status code.",
            ("route", "method", "status"),
            registry=registry,
        )
        self.request_seconds = Histogram(
            "twinbank_http_request_duration_seconds",
            "Time from receiving a request to sending its last byte, by route.",
            ("route", "method"),
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.stage_seconds = Histogram(
            "twinbank_decision_stage_duration_seconds",
            "Time per decision stage: feature_lookup, features, scoring, policy, journal.",
            ("stage",),
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.decisions = Counter(
            "twinbank_decisions", "Decisions made, by outcome.", ("outcome",), registry=registry
        )
        self.degraded = Counter(
            "twinbank_degraded_decisions",
            "Decisions made without a component, by the missing component.",
            ("component",),
            registry=registry,
        )
        self.store_errors = Counter(
            "twinbank_store_errors",
            "Failed calls to a store, by store and operation.",
            ("store", "operation"),
            registry=registry,
        )
        self.batch_size = Histogram(
            "twinbank_decision_batch_size",
            "Decisions scored per model call.",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
            registry=registry,
        )
        self.journal_sync_seconds = Histogram(
            "twinbank_journal_sync_duration_seconds",
            "Time of each journal fdatasync, by where it ran: inline on the request loop "
            "or in a worker thread.",
            ("path",),
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.journal_backlog = Gauge(
            "twinbank_journal_backlog_records",
            "Journaled records a forwarder has not delivered yet.",
            ("forwarder",),
            registry=registry,
        )
        self.forwarder_healthy = Gauge(
            "twinbank_journal_forwarder_healthy",
            "1 when the forwarder's last delivery succeeded, else 0.",
            ("forwarder",),
            registry=registry,
        )


class MetricsMiddleware:
    """Counts and times every HTTP request (a plain ASGI middleware, for low overhead)."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics) -> None:
        self._app = app
        self._metrics = metrics
        # Labelled children by (route, method, status). ``labels`` takes a lock and
        # builds a key on every call, and the set of label values is the same either way.
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self._app(scope, receive, send_and_record)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            counter, histogram = self._labelled(template, scope["method"], status)
            counter.inc()
            histogram.observe(time.perf_counter() - started)

    def _labelled(self, template: str, method: str, status: int) -> tuple[Any, Any]:
        key = (template, method, status)
        children = self._children.get(key)
        if children is None:
            metrics = self._metrics
            children = (
                metrics.requests.labels(template, method, str(status)),
                metrics.request_seconds.labels(template, method),
            )
            self._children[key] = children
        return children
