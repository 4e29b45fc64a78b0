"""An M/M/c region of the twin against Erlang C.

One region with Poisson arrivals, exponential service times and c replicas, with no
autoscaling, network or deadline, is an M/M/c queue. Its probability of waiting and
mean wait must lie within 3 % of the Erlang C values, and the run must be long enough
that the 95 % batch-means confidence interval is itself narrower than 3 %.
"""

from __future__ import annotations

import pytest

from twinbank.entrypoints.containers import build_container
from twinbank.simulator.regions.fidelity import erlang_c, mmc_scenario, waiting_estimates

TOLERANCE = 0.03
MEAN_SERVICE_MS = 1.0


def _measure(servers: int, utilization: float, requests: int, seed: int):  # type: ignore[no-untyped-def]
    service_rate = 1e3 / MEAN_SERVICE_MS
    arrival_rate = utilization * servers * service_rate
    scenario = mmc_scenario(servers, arrival_rate, MEAN_SERVICE_MS, requests, seed=seed)
    result = build_container().regions.run(scenario=scenario).execute(None)
    return waiting_estimates(result), erlang_c(servers, arrival_rate, service_rate)


@pytest.mark.parametrize(
    ("servers", "utilization", "requests"),
    [
        pytest.param(4, 0.8, 2_000_000, id="M/M/4 at 80 %"),
        pytest.param(1, 0.8, 2_000_000, id="M/M/1 at 80 %", marks=pytest.mark.slow),
        pytest.param(16, 0.9, 4_000_000, id="M/M/16 at 90 %", marks=pytest.mark.slow),
    ],
)
def test_region_matches_erlang_c(servers: int, utilization: float, requests: int):
    (probability, mean_wait), theory = _measure(servers, utilization, requests, seed=1)

    assert probability.relative_half_width < TOLERANCE
    assert mean_wait.relative_half_width < TOLERANCE
    assert probability.relative_error(theory.probability_of_wait) < TOLERANCE
    assert mean_wait.relative_error(theory.mean_wait) < TOLERANCE


def test_erlang_c_reference_values():
    # M/M/1: P(wait) = rho and Wq = rho / (mu - lambda).
    single = erlang_c(1, 800.0, 1000.0)
    assert single.probability_of_wait == pytest.approx(0.8)
    assert single.mean_wait == pytest.approx(0.004)
    # M/M/2 at offered load 1 erlang: P(wait) = 1/3, Wq = (1/3) / (2 mu - lambda).
    double = erlang_c(2, 1.0, 1.0)
    assert double.probability_of_wait == pytest.approx(1 / 3)
    assert double.mean_wait == pytest.approx(1 / 3)


def test_erlang_c_rejects_an_unstable_queue():
    with pytest.raises(ValueError, match="offered load 4 erlangs needs more than 4 servers"):
        erlang_c(4, 4.0, 1.0)
