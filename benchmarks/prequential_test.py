"""Score the ensemble the way the handbook scores its tuned XGBoost: over four test folds.

Run: TWINBANK_DATA_DIR=... python benchmarks/prequential_test.py

The handbook's model selection chapter reports a tuned model's test figures (XGBoost:
AUC ROC 0.869, average precision 0.687, card precision@100 0.303) as the mean over four
prequential folds. Their training weeks start on 2018-07-25, 08-01, 08-08 and 08-15,
so the test weeks start on 08-08, 08-15, 08-22 and 08-29. This script trains the whole
ensemble with its default settings on each of those folds (``prequential_test_folds``)
and prints each component's figures and the ensemble's, fold by fold and as mean and
standard deviation. The settings were chosen on validation folds before 2018-07-25
(``model_selection_*.py``); nothing here chooses anything.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import date, timedelta
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from twinbank.adapters.models.ensemble_training import (
    EnsembleSettings,
    HandbookData,
    train_ensemble,
)
from twinbank.adapters.rules import load_rule_set
from twinbank.adapters.transactions import load_transactions
from twinbank.core.evaluation import (
    HandbookProtocol,
    InvalidEvaluationInput,
    prequential_test_folds,
)
from twinbank.core.features.handbook import handbook_feature_set

RULES = Path(__file__).resolve().parents[1] / "scenarios" / "rules" / "handbook-patterns.yaml"
EPOCH = date(1970, 1, 1)
HANDBOOK_TRAINING_START = (date(2018, 7, 25) - EPOCH).days
MODELS = ("xgboost", "network", "rules", "ensemble")
METRICS = ("auc_roc", "average_precision", "card_precision_at_100")
HANDBOOK_TUNED_XGBOOST = (0.869, 0.687, 0.303)


def _day(day_number: int) -> str:
    return (EPOCH + timedelta(days=day_number)).isoformat()


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=_positive_int, default=4, help="number of test folds (4)")
    arguments = parser.parse_args()
    root = os.environ.get("TWINBANK_DATA_DIR")
    if not root:
        sys.exit("set TWINBANK_DATA_DIR to the folder holding handbook/")
    dataset = load_transactions(Path(root) / "handbook" / "transactions.parquet")
    data = HandbookData.from_dataset(dataset, handbook_feature_set())
    rule_set, _ = load_rule_set(RULES)
    protocol = HandbookProtocol(training_start_day=HANDBOOK_TRAINING_START)
    last_day = int(data.days.max())
    try:
        folds = prequential_test_folds(protocol, arguments.folds, last_day=last_day)
    except InvalidEvaluationInput as error:
        parser.error(f"--folds {arguments.folds}: {error}; the data ends on {_day(last_day)}")

    console = Console()
    figures = np.empty((len(folds), len(MODELS), len(METRICS)))
    per_fold = Table(title="Each test fold (AUC ROC / AP / CP@100)")
    for column in ("training start", "test week", *MODELS):
        per_fold.add_column(column, justify="right")
    with Progress(console=console) as progress:
        task = progress.add_task("Training the ensemble on each test fold", total=len(folds))
        for index, fold in enumerate(folds):
            metrics = train_ensemble(
                data, fold, rule_set, RULES.read_bytes(), EnsembleSettings()
            ).metrics
            for row, model in enumerate(MODELS):
                figures[index, row] = [metrics[model][name] for name in METRICS]
            per_fold.add_row(
                _day(fold.training_start_day),
                _day(fold.test_start_day),
                *(
                    " / ".join(f"{value:.4f}" for value in figures[index, row])
                    for row in range(len(MODELS))
                ),
            )
            progress.advance(task)
    console.print(per_fold)

    summary = Table(title=f"Mean ± standard deviation over {len(folds)} test folds")
    for column in ("model", "AUC ROC", "AP", "CP@100"):
        summary.add_column(column, justify="right")
    means, spreads = figures.mean(axis=0), figures.std(axis=0)
    for row, model in enumerate(MODELS):
        summary.add_row(
            model,
            *(f"{means[row, m]:.4f} ± {spreads[row, m]:.4f}" for m in range(len(METRICS))),
        )
    summary.add_row(
        "handbook's tuned XGBoost", *(f"{value:.3f}" for value in HANDBOOK_TUNED_XGBOOST)
    )
    console.print(summary)


if __name__ == "__main__":
    main()
