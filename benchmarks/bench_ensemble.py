"""Ensemble decisioning: metrics table, calibration report, latency and throughput.

Run (after ``twinbank train --store STORE`` printed VERSION):

    TWINBANK_DATA_DIR=... python benchmarks/bench_ensemble.py --store STORE --version VERSION

Single decisions: each test-week transaction's features are written to the in-memory
online store beforehand (one entry per transaction), and every decision reads them back
with one store call, assembles the input row, runs XGBoost with its TreeSHAP
explanation, the network and the rules, combines, calibrates, applies the policy and
keeps the top-3 explanation in the record. One thread for XGBoost and torch. The
baseline in the same run is the skeleton path: one XGBoost row score and the policy.

Batch throughput: ``EnsembleDecider.score_batch`` over the test week in batches, one
thread; the baseline is XGBoost's ``inplace_predict`` alone on the same batches.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np

from twinbank.adapters.artifacts import LocalArtifactStore
from twinbank.adapters.clocks import PerfCounterStopwatch, WallClock
from twinbank.adapters.memory import InMemoryOnlineFeatureStore
from twinbank.adapters.models.ensemble_training import ensemble_from_artifact
from twinbank.adapters.transactions import load_transactions
from twinbank.core.decisions import DecisionPolicy
from twinbank.core.ensemble import EnsembleDecider
from twinbank.core.evaluation import HandbookProtocol
from twinbank.core.features.batch import compute_batch
from twinbank.core.features.handbook import handbook_feature_set
from twinbank.core.features.online import FeatureWrite
from twinbank.core.features.vector import FeatureVector
from twinbank.core.timestamps import days
from twinbank.core.transactions import Transaction

ENTITY = "transaction"


def percentile(values: list[float], share: float) -> float:
    return float(np.percentile(values, share))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--version", required=True)
    parser.add_argument("--decisions", type=int, default=5000, help="single decisions timed")
    parser.add_argument("--batch", type=int, default=8192, help="rows per vectorized batch")
    parser.add_argument("--repetitions", type=int, default=5)
    arguments = parser.parse_args()
    root = os.environ.get("TWINBANK_DATA_DIR")
    if not root:
        sys.exit("set TWINBANK_DATA_DIR to the folder holding handbook/")

    import torch  # noqa: PLC0415 - set before any inference

    torch.set_num_threads(1)
    artifact = LocalArtifactStore(arguments.store).load("fraud-ensemble", arguments.version)
    loaded = ensemble_from_artifact(artifact, threads=1)
    metrics = json.loads(artifact.files["metrics.json"])

    dataset = load_transactions(Path(root) / "handbook" / "transactions.parquet")
    feature_set = handbook_feature_set()
    features = compute_batch(feature_set, dataset.table(), dataset.labels(days(7)))
    start = (date(2018, 7, 25) - date(1970, 1, 1)).days
    split = HandbookProtocol(training_start_day=start).split(
        dataset.epoch_days, dataset.customer_id, dataset.is_fraud
    )
    test = np.flatnonzero(split.test)
    columns = {name: features[:, i] for i, name in enumerate(feature_set.names)}
    columns["amount"] = dataset.amount
    matrix = loaded.inputs.from_columns(columns)[test]

    decider = EnsembleDecider(
        loaded.inputs,
        loaded.components,
        loaded.combiner,
        loaded.calibration,
        DecisionPolicy(),
        PerfCounterStopwatch(),
        WallClock(),
    )
    xgboost = loaded.components[0]
    policy = DecisionPolicy()

    # Single decisions.
    store = InMemoryOnlineFeatureStore()
    chosen = test[: arguments.decisions]
    store.write(
        [
            FeatureWrite(
                ENTITY,
                int(dataset.transaction_id[i]),
                {name: float(features[i, k]) for k, name in enumerate(feature_set.names)},
                int(dataset.timestamp_ns[i]),
            )
            for i in chosen
        ]
    )
    names = feature_set.names
    transactions = [
        Transaction(
            int(dataset.transaction_id[i]),
            int(dataset.timestamp_ns[i]),
            int(dataset.customer_id[i]),
            int(dataset.terminal_id[i]),
            float(dataset.amount[i]),
        )
        for i in chosen
    ]

    def fetch(transaction: Transaction) -> FeatureVector:
        stored = store.read(ENTITY, [transaction.transaction_id], names)[0]
        values = tuple(np.nan if stored[name][0] is None else stored[name][0] for name in names)
        return FeatureVector(names, values, feature_set.version)

    for transaction in transactions[:200]:  # warm-up
        decider.decide(transaction, fetch(transaction))
    totals, shares = [], {}
    baseline = []
    for transaction in transactions:
        started = time.perf_counter_ns()
        vector = fetch(transaction)
        fetched = time.perf_counter_ns()
        record = decider.decide(transaction, vector, fetched - started)
        totals.append((time.perf_counter_ns() - started) / 1e3)
        for stage, ns in record.explanation.stage_ns:
            shares[stage] = shares.get(stage, 0) + ns
        started = time.perf_counter_ns()
        row = decider.inputs.assemble([transaction], [fetch(transaction)])[0]
        policy.outcome_for(xgboost.score_row(row))
        baseline.append((time.perf_counter_ns() - started) / 1e3)

    ensemble_rates, xgboost_rates = time_batches(decider, xgboost, matrix, arguments)
    report(metrics, totals, baseline, shares, ensemble_rates, xgboost_rates, len(matrix), arguments)


def time_batches(decider, xgboost, matrix, arguments):
    """Return decisions per second of each repetition, for the ensemble and XGBoost alone."""
    batches = [matrix[i : i + arguments.batch] for i in range(0, len(matrix), arguments.batch)]
    ensemble_rates, xgboost_rates = [], []
    decider.score_batch(batches[0])
    for _ in range(arguments.repetitions):
        started = time.perf_counter()
        for batch in batches:
            decider.score_batch(batch)
        ensemble_rates.append(len(matrix) / (time.perf_counter() - started))
        started = time.perf_counter()
        for batch in batches:
            xgboost.score_matrix(batch)
        xgboost_rates.append(len(matrix) / (time.perf_counter() - started))

    return ensemble_rates, xgboost_rates


def report(metrics, totals, baseline, shares, ensemble_rates, xgboost_rates, rows, arguments):
    """Print the tables that BENCHMARKS.md records."""
    stage_total = sum(shares.values())
    matrix_rows = rows
    print(
        f"machine: {platform.machine()} {platform.system()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, load {os.getloadavg()}"
    )
    print("\n| model | AUC ROC | average precision | card precision@100 |")
    print("| --- | ---: | ---: | ---: |")
    for name in ("xgboost", "network", "rules", "ensemble"):
        m = metrics[name]
        print(
            f"| {name} | {m['auc_roc']:.4f} | {m['average_precision']:.4f} | "
            f"{m['card_precision_at_100']:.4f} |"
        )
    calibration = metrics["calibration"]
    print(f"\ncalibration {calibration['kind']}, ECE {calibration['expected_calibration_error']}")
    print("| bin | count | mean predicted | observed fraud rate |")
    print("| --- | ---: | ---: | ---: |")
    for row in calibration["reliability"]:
        print(
            f"| {row['lower']:.1f}-{row['upper']:.1f} | {row['count']} | "
            f"{row['mean_predicted']:.4f} | {row['observed_fraud_rate']:.4f} |"
        )
    print(
        f"\nsingle decision ({len(totals)} decisions, µs): ensemble p50 "
        f"{statistics.median(totals):.0f} p99 {percentile(totals, 99):.0f}; skeleton path p50 "
        f"{statistics.median(baseline):.0f} p99 {percentile(baseline, 99):.0f}; ratio of "
        f"medians {statistics.median(totals) / statistics.median(baseline):.1f}"
    )
    print(
        "stage shares: "
        + ", ".join(f"{stage} {100 * ns / stage_total:.1f} %" for stage, ns in shares.items())
    )
    print(
        f"batch ({matrix_rows} rows in batches of {arguments.batch}, {arguments.repetitions} runs, "
        f"decisions/s): ensemble median {statistics.median(ensemble_rates):,.0f} min "
        f"{min(ensemble_rates):,.0f}; XGBoost alone median {statistics.median(xgboost_rates):,.0f}; "
        f"ratio {statistics.median(ensemble_rates) / statistics.median(xgboost_rates):.2f}"
    )


if __name__ == "__main__":
    main()
