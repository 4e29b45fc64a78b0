"""Multi-region scenarios for tests: a small valid document and a run through the
composition root."""

from __future__ import annotations

import copy
from typing import Any

from twinbank.entrypoints.containers import build_container
from twinbank.simulator.regions.run import MultiRegionResult
from twinbank.simulator.regions.scenario import MultiRegionScenario

THREE_REGIONS: dict[str, Any] = {
    "kind": "multi-region",
    "name": "three-regions",
    "seed": 3,
    "horizon_seconds": 120,
    "regions": [
        {"name": "us-east-1", "jurisdiction": "US", "replicas": 2},
        {"name": "eu-west-1", "jurisdiction": "EU", "replicas": 2},
        {"name": "ap-southeast-1", "jurisdiction": "SG", "replicas": 2},
    ],
    "residency": {"EU": ["EU"]},
    "serving": {"service_time": {"kind": "exponential", "mean_ms": 1.0}},
    "traffic": {
        "kind": "generated",
        "origins": [
            {
                "region": "us-east-1",
                "requests_per_second": 200,
                "home_jurisdictions": {"US": 0.9, "EU": 0.1},
            },
            {
                "region": "eu-west-1",
                "requests_per_second": 150,
                "home_jurisdictions": {"EU": 0.9, "US": 0.1},
            },
            {
                "region": "ap-southeast-1",
                "requests_per_second": 100,
                "home_jurisdictions": {"SG": 1.0},
            },
        ],
    },
}

SMALL_FRAUD: dict[str, Any] = {
    "transactions": {
        "kind": "generator",
        "settings": {
            "seed": 3,
            "start_date": "2018-04-01",
            "days": 30,
            "customers": 300,
            "terminals": 600,
        },
    },
    "model": {
        "training": {"training_start": "2018-04-10"},
        "hyperparameters": {"n_estimators": 20},
    },
    "calibration": {"decisions": 300, "discard": 50, "history_days": 2},
}


def document(**changes: Any) -> dict[str, Any]:
    """Return a copy of THREE_REGIONS with top-level fields replaced."""
    found = copy.deepcopy(THREE_REGIONS)
    found.update(copy.deepcopy(changes))
    return found


def run_scenario(doc: dict[str, Any]) -> MultiRegionResult:
    """Validate and run a scenario in memory through the composition root."""
    scenario = MultiRegionScenario.model_validate(doc)
    container = build_container()
    container.config.decisions.profile.from_value("ephemeral")
    transactions = None
    trainer = None
    if scenario.fraud is not None:
        transactions = container.transactions.generated(scenario.fraud.transactions.settings)
        trainer = container.models.xgboost_trainer(settings=scenario.fraud.model.hyperparameters)
    run = container.regions.run(
        scenario=scenario, transactions=transactions, trainer=trainer, traffic_file=None
    )
    return run.execute(run.prepare())
