"""Choose the ensemble's ratio inputs on validation weeks before the training week.

Run: TWINBANK_DATA_DIR=... python benchmarks/model_selection_inputs.py

XGBoost with the default settings is trained and scored once per input set on the
handbook protocol shifted back, so that every fold's test week ends before the real
training week (``validation_folds``). Each input set is the amount and the 14
handbook features plus some ratios of the amount and the customer's mean spending
(``a/b`` inputs, see ``ModelInputs``). Input sets are ranked by mean average
precision over the folds. The real test week is not scored here.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import date
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from twinbank.adapters.models.ensemble_training import SPENDING_RATIOS, HandbookData
from twinbank.adapters.models.xgboost_model import XGBoostSettings, XGBoostTrainer
from twinbank.adapters.transactions import load_transactions
from twinbank.core.evaluation import (
    HandbookProtocol,
    auc_roc,
    average_precision,
    card_precision_at_k,
    validation_folds,
)
from twinbank.core.features.handbook import handbook_feature_set

HANDBOOK_TRAINING_START = (date(2018, 7, 25) - date(1970, 1, 1)).days
AVERAGE = "CUSTOMER_ID_AVG_AMOUNT_{}DAY_WINDOW"
CANDIDATES: dict[str, tuple[str, ...]] = {
    "none (amount and handbook features)": (),
    "amount / 30-day mean": (f"amount/{AVERAGE.format(30)}",),
    "amount / 7- and 30-day means": (f"amount/{AVERAGE.format(7)}", f"amount/{AVERAGE.format(30)}"),
    "amount / 1-, 7- and 30-day means": tuple(
        f"amount/{AVERAGE.format(window)}" for window in (1, 7, 30)
    ),
    "amount / 30-day mean, 1-day / 30-day mean": (
        f"amount/{AVERAGE.format(30)}",
        f"{AVERAGE.format(1)}/{AVERAGE.format(30)}",
    ),
    "spending ratios (the default)": SPENDING_RATIOS,
    "spending ratios and 1-day / 7-day mean": (
        *SPENDING_RATIOS,
        f"amount/{AVERAGE.format(1)}",
        f"{AVERAGE.format(1)}/{AVERAGE.format(7)}",
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=4)
    arguments = parser.parse_args()
    root = os.environ.get("TWINBANK_DATA_DIR")
    if not root:
        sys.exit("set TWINBANK_DATA_DIR to the folder holding handbook/")
    dataset = load_transactions(Path(root) / "handbook" / "transactions.parquet")
    data = HandbookData.from_dataset(dataset, handbook_feature_set())
    protocol = HandbookProtocol(training_start_day=HANDBOOK_TRAINING_START)
    folds = validation_folds(protocol, arguments.folds, first_day=int(data.days.min()))
    splits = [fold.split(data.days, data.cards, data.labels) for fold in folds]

    console = Console()
    rows = []
    with Progress(console=console) as progress:
        task = progress.add_task("Training on the validation folds", total=len(CANDIDATES))
        for name, ratios in CANDIDATES.items():
            candidate = data.with_ratios(ratios)
            per_fold = []
            for split in splits:
                scorer = XGBoostTrainer(XGBoostSettings()).train(
                    candidate.matrix[split.training],
                    candidate.labels[split.training],
                    candidate.inputs,
                )
                scores = scorer.score_matrix(candidate.matrix[split.test])
                labels = candidate.labels[split.test]
                per_fold.append(
                    (
                        auc_roc(labels, scores),
                        average_precision(labels, scores),
                        card_precision_at_k(
                            candidate.days[split.test],
                            candidate.cards[split.test],
                            labels,
                            scores,
                            100,
                        ).mean,
                    )
                )
            folds_ap = [fold[1] for fold in per_fold]
            rows.append((name, np.mean(per_fold, axis=0), folds_ap))
            progress.advance(task)

    rows.sort(key=lambda row: -row[1][1])
    table = Table(title=f"XGBoost on {len(folds)} validation folds, ranked by average precision")
    for column in ("ratio inputs", "AUC ROC", "AP", "CP@100", "AP per fold"):
        table.add_column(column, justify="left" if column == "ratio inputs" else "right")
    for name, (auc, ap, cp), folds_ap in rows:
        table.add_row(
            name, f"{auc:.4f}", f"{ap:.4f}", f"{cp:.4f}", " ".join(f"{v:.4f}" for v in folds_ap)
        )
    console.print(table)


if __name__ == "__main__":
    main()
