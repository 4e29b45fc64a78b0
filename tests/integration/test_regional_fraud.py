"""Fraud outcomes of a multi-region run: real core decisions on the transactions that
pass through the twin, and stand-in decisions where the twin failed them."""

from __future__ import annotations

import numpy as np
import pytest

from tests.support.regions import SMALL_FRAUD, document, run_scenario
from twinbank.core.decisions import Outcome
from twinbank.simulator.regions.fraud import FATE_CODE, MODEL, OUTCOME_CODE
from twinbank.simulator.regions.report import build_report


@pytest.fixture(scope="module")
def outage_run():  # type: ignore[no-untyped-def]
    doc = document(
        horizon_seconds=300,
        fraud=SMALL_FRAUD,
        serving={"service_time": {"kind": "calibrated"}},
        faults=[
            {
                "kind": "region-outage",
                "region": "eu-west-1",
                "at_seconds": 60,
                "duration_seconds": 120,
            }
        ],
    )
    return run_scenario(doc)


def test_every_submitted_transaction_gets_one_fate(outage_run):  # type: ignore[no-untyped-def]
    desk = outage_run.fraud.desk
    window = outage_run.fraud.model.window
    assert len(desk.fates) == len(window) > 1_000
    assert (desk.fates >= 0).all()
    assert (desk.final >= 0).all()


def test_model_decisions_equal_offline_batch_scores(outage_run):  # type: ignore[no-untyped-def]
    fraud = outage_run.fraud
    decided = fraud.desk.fates == MODEL
    assert decided.sum() > 0.5 * len(decided)
    np.testing.assert_allclose(fraud.desk.scores[decided], fraud.offline_scores[decided], atol=1e-6)
    np.testing.assert_array_equal(fraud.desk.final[decided], fraud.offline_outcomes[decided])
    assert build_report(outage_run)["fraud"]["twin_scores_equal_offline"] is True


def test_decision_log_holds_every_model_decision(outage_run):  # type: ignore[no-untyped-def]
    fates = outage_run.fraud.desk.fates
    decided = (fates == MODEL) | (fates == FATE_CODE["DEADLINE_EXCEEDED"])
    assert outage_run.fraud.decisions_logged == int(decided.sum())


def test_outage_of_only_eu_region_makes_eu_customers_stand_in(outage_run):  # type: ignore[no-untyped-def]
    fraud = outage_run.fraud
    desk = fraud.desk
    stand_in = desk.fates != MODEL
    rejected = desk.fates == FATE_CODE["RESIDENCY_REJECTED"]
    unreachable = desk.fates == FATE_CODE["REGION_UNREACHABLE"]
    assert rejected.sum() > 0
    assert unreachable.sum() > 0
    amounts = fraud.model.dataset.amount[fraud.model.window.first : fraud.model.window.last]
    approve = OUTCOME_CODE[Outcome.APPROVE]
    decline = OUTCOME_CODE[Outcome.DECLINE]
    assert (desk.final[stand_in & (amounts <= 100.0)] == approve).all()
    assert (desk.final[stand_in & (amounts > 100.0)] == decline).all()


def test_report_compares_with_the_same_model_without_faults(outage_run):  # type: ignore[no-untyped-def]
    section = build_report(outage_run)["fraud"]
    assert sum(section["fates"].values()) == section["transactions"]
    assert sum(section["outcomes"]["twin"].values()) == section["transactions"]
    assert sum(section["outcomes"]["without_faults"].values()) == section["transactions"]
    caught = section["fraud"]
    assert caught["frauds"] > 0
    assert caught["caught"]["twin"] <= caught["frauds"]
    assert (
        caught["caught"]["without_faults"]
        - caught["missed_because_of_faults"]
        + caught["caught_only_by_stand_in"]
        == caught["caught"]["twin"]
    )
    assert section["time_compression"] == pytest.approx(7 * 86_400 / 300)


def test_calibrated_service_time_is_the_measured_decision_time(outage_run):  # type: ignore[no-untyped-def]
    calibration = outage_run.fraud.model.calibration_seconds
    assert len(calibration) == 250  # 300 timed, the first 50 dropped
    assert (calibration > 0).all()
    described = build_report(outage_run)["service_time"]
    assert described["calibration"]["decisions"] == 250
    assert described["mean_ms"] == pytest.approx(calibration.mean() * 1e3, rel=1e-3)


def test_training_period_outside_data_is_bad_input():
    doc = document(
        fraud={**SMALL_FRAUD, "model": {"training": {"training_start": "2030-01-01"}}},
        serving={"service_time": {"kind": "exponential", "mean_ms": 1.0}},
    )
    with pytest.raises(ValueError, match="training_start"):
        run_scenario(doc)
