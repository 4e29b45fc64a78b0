"""Locust users of the decision service: decisions, online features, a trivial ceiling.

Run by ``benchmarks/bench_serving.py``. Only the standard library and locust are
imported here: gevent patches the process at start, and importing the project's ML
stack (shap in particular) before that breaks it.

Environment:
    TWINBANK_BENCH_REQUESTS   JSON lines of decision bodies, sent in file order
    TWINBANK_BENCH_KEY        API key with scopes decide and read
    TWINBANK_BENCH_CUSTOMERS  comma-separated customer ids with online features
    TWINBANK_BENCH_FEATURES   comma-separated feature names to read per request
    TWINBANK_BENCH_RATE       requests per second per user (0: as fast as possible)
"""

from __future__ import annotations

import itertools
import json
import os
import random

from locust import constant, constant_throughput, task
from locust.contrib.fasthttp import FastHttpUser

_KEY = os.environ.get("TWINBANK_BENCH_KEY", "")
_RATE = float(os.environ.get("TWINBANK_BENCH_RATE", "0"))
_HEADERS = {"X-API-Key": _KEY, "Content-Type": "application/json"}


def _bodies() -> list[bytes]:
    path = os.environ.get("TWINBANK_BENCH_REQUESTS")
    if not path:
        return []
    with open(path, "rb") as lines:
        return [line.rstrip(b"\n") for line in lines if line.strip()]


_BODIES = _bodies()
_NEXT = itertools.count()  # users share one sequence, so transactions go in time order
_CUSTOMERS = [int(c) for c in os.environ.get("TWINBANK_BENCH_CUSTOMERS", "").split(",") if c]
_FEATURES = [f for f in os.environ.get("TWINBANK_BENCH_FEATURES", "").split(",") if f]


def _wait():
    return constant_throughput(_RATE) if _RATE > 0 else constant(0)


class DecisionUser(FastHttpUser):
    wait_time = _wait()

    @task
    def decide(self) -> None:
        body = _BODIES[next(_NEXT) % len(_BODIES)]
        self.client.post("/v1/decisions", data=body, headers=_HEADERS, name="/v1/decisions")


class OnlineFeatureUser(FastHttpUser):
    wait_time = _wait()

    @task
    def read(self) -> None:
        body = json.dumps(
            {"entity": "customer", "keys": [random.choice(_CUSTOMERS)], "features": _FEATURES}
        )
        self.client.post(
            "/v1/features/online", data=body, headers=_HEADERS, name="/v1/features/online"
        )


class CeilingUser(FastHttpUser):
    """The cheapest route of the same server: what the stack itself allows."""

    wait_time = _wait()

    @task
    def health(self) -> None:
        self.client.get("/healthz", name="/healthz")
