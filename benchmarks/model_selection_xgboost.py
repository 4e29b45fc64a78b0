"""Choose the XGBoost hyperparameters on validation weeks before the training week.

Run: TWINBANK_DATA_DIR=... python benchmarks/model_selection_xgboost.py

Each candidate is trained and scored on the handbook protocol shifted back so that
every fold's test week ends before the real training week (``validation_folds``);
candidates are ranked by mean average precision over the folds. The real test week
is scored only for the winner, after the choice, and only to report it, together with
the same protocol shifted to later weeks.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
from datetime import date, timedelta
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from twinbank.adapters.models.xgboost_model import XGBoostSettings, XGBoostTrainer
from twinbank.adapters.transactions import load_transactions
from twinbank.core.evaluation import (
    HandbookProtocol,
    auc_roc,
    average_precision,
    card_precision_at_k,
    validation_folds,
)
from twinbank.core.features.batch import compute_batch
from twinbank.core.features.handbook import handbook_feature_set
from twinbank.core.modeling import ModelInputs
from twinbank.core.timestamps import days

GRID = {
    "max_depth": (2, 3, 4, 6),
    "n_estimators": (50, 100, 200),
    "learning_rate": (0.05, 0.1, 0.3),
}
HANDBOOK_TRAINING_START = (date(2018, 7, 25) - date(1970, 1, 1)).days
# 0 is the handbook's own test week; the data ends on 2018-09-30, so the test week of
# the last shift (2018-09-12 to 2018-09-18) still lies inside it.
LATER_SHIFTS = (0, 7, 14, 21, 28, 35)


def _metrics(split_days, cards, labels, scores) -> tuple[float, float, float]:
    return (
        auc_roc(labels, scores),
        average_precision(labels, scores),
        card_precision_at_k(split_days, cards, labels, scores, 100).mean,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=4)
    arguments = parser.parse_args()
    root = os.environ.get("TWINBANK_DATA_DIR")
    if not root:
        sys.exit("set TWINBANK_DATA_DIR to the folder holding handbook/")
    dataset = load_transactions(Path(root) / "handbook" / "transactions.parquet")
    feature_set = handbook_feature_set()
    features = compute_batch(feature_set, dataset.table(), dataset.labels(days(7)))
    columns = {name: features[:, index] for index, name in enumerate(feature_set.names)}
    columns["amount"] = dataset.amount
    inputs = ModelInputs(("amount", *feature_set.names), feature_set.names)
    matrix = inputs.from_columns(columns)
    day, cards, labels = dataset.epoch_days, dataset.customer_id, dataset.is_fraud

    protocol = HandbookProtocol(training_start_day=HANDBOOK_TRAINING_START)
    folds = validation_folds(protocol, arguments.folds, first_day=int(day.min()))
    splits = [fold.split(day, cards, labels) for fold in folds]
    console = Console()
    rows = []
    candidates = list(itertools.product(*GRID.values()))
    with Progress(console=console) as progress:
        task = progress.add_task(
            "Training candidates on the validation folds", total=len(candidates)
        )
        for depth, trees, rate in candidates:
            settings = XGBoostSettings(max_depth=depth, n_estimators=trees, learning_rate=rate)
            per_fold = []
            for split in splits:
                scorer = XGBoostTrainer(settings).train(
                    matrix[split.training], labels[split.training], inputs
                )
                scores = scorer.score_matrix(matrix[split.test])
                per_fold.append(
                    _metrics(day[split.test], cards[split.test], labels[split.test], scores)
                )
            rows.append((settings, np.mean(per_fold, axis=0)))
            progress.advance(task)

    rows.sort(key=lambda row: -row[1][1])
    table = Table(title=f"Validation: mean over {len(folds)} folds, ranked by average precision")
    for column in ("max_depth", "n_estimators", "learning_rate", "AUC ROC", "AP", "CP@100"):
        table.add_column(column, justify="right")
    for settings, (auc, ap, cp) in rows[:10]:
        table.add_row(
            str(settings.max_depth),
            str(settings.n_estimators),
            str(settings.learning_rate),
            f"{auc:.4f}",
            f"{ap:.4f}",
            f"{cp:.4f}",
        )
    console.print(table)

    best = rows[0][0]
    console.print(
        f"chosen: max_depth={best.max_depth} n_estimators={best.n_estimators} "
        f"learning_rate={best.learning_rate} (handbook XGBoost on its test week: 0.862 / 0.639 / 0.273)"
    )
    later = Table(title="The chosen pipeline on the test week and on the protocol shifted later")
    for column in ("shift (days)", "training start", "AUC ROC", "AP", "CP@100"):
        later.add_column(column, justify="right")
    for shift in LATER_SHIFTS:
        shifted = protocol.shifted(shift)
        split = shifted.split(day, cards, labels)
        scorer = XGBoostTrainer(best).train(matrix[split.training], labels[split.training], inputs)
        auc, ap, cp = _metrics(
            day[split.test],
            cards[split.test],
            labels[split.test],
            scorer.score_matrix(matrix[split.test]),
        )
        start = date(1970, 1, 1) + timedelta(days=shifted.training_start_day)
        later.add_row(str(shift), start.isoformat(), f"{auc:.4f}", f"{ap:.4f}", f"{cp:.4f}")
    console.print(later)


if __name__ == "__main__":
    main()
