"""Choose the ensemble's settings on validation folds before the handbook's training week.

Run: TWINBANK_DATA_DIR=... python benchmarks/model_selection_ensemble.py

Each candidate trains the whole ensemble (XGBoost, network, rules, combiner, Platt
calibration) on the handbook protocol shifted back 21 and 28 days, so that every
fold's test week ends before the real training week starts, and is ranked by the mean
average precision of the ensemble over the folds. The real test week is not scored.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import date
from pathlib import Path

import numpy as np

from twinbank.adapters.models.ensemble_training import (
    EnsembleSettings,
    HandbookData,
    train_ensemble,
)
from twinbank.adapters.rules import load_rule_set
from twinbank.adapters.transactions import load_transactions
from twinbank.core.evaluation import HandbookProtocol
from twinbank.core.features.handbook import handbook_feature_set

RULES = Path(__file__).resolve().parents[1] / "scenarios" / "rules" / "handbook-patterns.yaml"
SHIFTS = (-21, -28)
# The network and XGBoost candidates were compared before the ratio inputs existed,
# so they run without them. `--only` runs the candidates whose name contains a text.
NO_RATIOS: dict[str, object] = {"ratio_inputs": []}
CANDIDATES = {
    "no ratio inputs": NO_RATIOS,
    "spending ratios": {},
    "network 64-32, 20 epochs": {**NO_RATIOS, "network": {"hidden": [64, 32], "epochs": 20}},
    "network 128-64, 30 epochs": {**NO_RATIOS, "network": {"hidden": [128, 64], "epochs": 30}},
    "network 64-32, 40 epochs": {**NO_RATIOS, "network": {"hidden": [64, 32], "epochs": 40}},
    "network 128-64, 50 epochs": {**NO_RATIOS, "network": {"hidden": [128, 64], "epochs": 50}},
    "network 256-128, 30 epochs": {**NO_RATIOS, "network": {"hidden": [256, 128], "epochs": 30}},
    "network 128-64, 30 epochs, seed 1": {
        **NO_RATIOS,
        "network": {"hidden": [128, 64], "epochs": 30, "seed": 1},
    },
    "XGBoost depth 4, 200 trees": {
        **NO_RATIOS,
        "network": {"hidden": [64, 32], "epochs": 20},
        "xgboost": {"max_depth": 4, "n_estimators": 200},
    },
    "XGBoost depth 6, 200 trees": {
        **NO_RATIOS,
        "network": {"hidden": [64, 32], "epochs": 20},
        "xgboost": {"n_estimators": 200},
    },
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only", default="", help="run only the candidates whose name contains this text"
    )
    arguments = parser.parse_args()
    root = os.environ.get("TWINBANK_DATA_DIR")
    if not root:
        sys.exit("set TWINBANK_DATA_DIR to the folder holding handbook/")
    dataset = load_transactions(Path(root) / "handbook" / "transactions.parquet")
    feature_set = handbook_feature_set()
    data = HandbookData.from_dataset(dataset, feature_set)
    rule_set, _ = load_rule_set(RULES)
    start = (date(2018, 7, 25) - date(1970, 1, 1)).days
    folds = [HandbookProtocol(training_start_day=start).shifted(shift) for shift in SHIFTS]

    print("| candidate | AUC ROC | AP | CP@100 | XGBoost alone AP |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, overrides in CANDIDATES.items():
        if arguments.only not in name:
            continue
        settings = EnsembleSettings.model_validate(overrides)
        per_fold = []
        for fold in folds:
            metrics = train_ensemble(data, fold, rule_set, RULES.read_bytes(), settings).metrics
            ensemble, xgboost = metrics["ensemble"], metrics["xgboost"]
            per_fold.append(
                [
                    ensemble["auc_roc"],
                    ensemble["average_precision"],
                    ensemble["card_precision_at_100"],
                    xgboost["average_precision"],
                ]
            )
        auc, ap, cp, xgboost_ap = np.mean(per_fold, axis=0)
        print(f"| {name} | {auc:.4f} | {ap:.4f} | {cp:.4f} | {xgboost_ap:.4f} |", flush=True)


if __name__ == "__main__":
    main()
