"""Decision traces: one span per decision with one child per stage (in-memory exporter)."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.support.serving import (
    DECIDE_KEY,
    KEY_ENVIRONMENT,
    free_port,
    transaction_body,
    write_config,
)
from twinbank.entrypoints.containers import build_container
from twinbank.entrypoints.http import build_serving_services, create_app, load_serve_settings
from twinbank.entrypoints.settings import PlatformSettings


@pytest.fixture
def traced_service(
    model_artifact: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, InMemorySpanExporter]]:
    for name, value in KEY_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    settings = load_serve_settings(write_config(tmp_path, model_artifact, port=free_port()))
    container = build_container(
        PlatformSettings(profile="memory"),
        sqlite_url=f"sqlite:///{tmp_path / 'decisions.db'}",
        governance_url=f"sqlite:///{tmp_path / 'governance.db'}",
    )
    exporter = InMemorySpanExporter()
    services = build_serving_services(container, settings, "memory", SimpleSpanProcessor(exporter))
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(services), host="127.0.0.1", port=settings.port, log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base_url = f"http://127.0.0.1:{settings.port}"
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    yield base_url, exporter
    server.should_exit = True
    thread.join(30)


def test_each_decision_has_a_span_per_stage(traced_service: tuple[str, InMemorySpanExporter]):
    base_url, exporter = traced_service
    response = httpx.post(
        f"{base_url}/v1/decisions",
        json=transaction_body(1),
        headers={"X-API-Key": DECIDE_KEY},
        timeout=10,
    )
    assert response.status_code == 200
    decision = response.json()

    spans = exporter.get_finished_spans()
    (root,) = [span for span in spans if span.name == "decision"]
    children = [
        span
        for span in spans
        if span.parent is not None and span.parent.span_id == root.context.span_id
    ]

    assert [child.name for child in children] == [
        "feature_lookup",
        "features",
        "scoring",
        "policy",
        "journal",
    ]
    assert root.attributes["twinbank.decision_id"] == decision["decision_id"]
    assert root.attributes["twinbank.outcome"] == decision["outcome"]
    assert root.resource.attributes["service.name"] == "twinbank-decisions"
    for earlier, later in itertools.pairwise(children):
        assert earlier.end_time == later.start_time
    assert root.start_time <= children[0].start_time
    assert root.end_time >= children[-1].end_time
