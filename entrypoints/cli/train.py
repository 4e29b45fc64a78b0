"""``twinbank train``: train the ensemble on the handbook protocol and store its artifact."""

from __future__ import annotations

import hashlib
import logging
import os
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.table import Table

from twinbank.adapters.models.ensemble_training import (
    EnsembleSettings,
    HandbookData,
    ensemble_files,
    train_ensemble,
)
from twinbank.adapters.rules import load_rule_set
from twinbank.adapters.transactions import InvalidTransactionData
from twinbank.core.ensemble import InvalidRules
from twinbank.core.evaluation import HandbookProtocol

from .composition import open_application
from .console import console, fail_bad_input

log = logging.getLogger(__name__)

ARTIFACT_NAME = "fraud-ensemble"
DEFAULT_RULES = (
    Path(__file__).resolve().parents[2] / "scenarios" / "rules" / "handbook-patterns.yaml"
)
HANDBOOK_FIGURES = {"auc_roc": None, "average_precision": 0.687, "card_precision_at_100": 0.303}
"""The handbook's reported figures for its tuned XGBoost on this test week; no AUC ROC here."""
_EPOCH = date(1970, 1, 1)


def _default_transactions() -> Path:
    root = os.environ.get("TWINBANK_DATA_DIR")
    if not root:
        fail_bad_input(
            "no --transactions given and TWINBANK_DATA_DIR is not set; set it to the folder "
            "holding handbook/ or pass --transactions"
        )
    return Path(root) / "handbook" / "transactions.parquet"


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def train(
    store: Annotated[
        Path, typer.Option(help="Artifact store folder (created when missing).")
    ] = Path("out/artifacts"),
    transactions: Annotated[
        Path | None,
        typer.Option(
            help="Handbook transaction file; default $TWINBANK_DATA_DIR/handbook/transactions.parquet."
        ),
    ] = None,
    rules: Annotated[Path, typer.Option(help="Rule file (YAML).")] = DEFAULT_RULES,
    training_start: Annotated[
        str, typer.Option(help="First training day, YYYY-MM-DD (the handbook's is 2018-07-25).")
    ] = "2018-07-25",
    calibration: Annotated[str, typer.Option(help="'platt' or 'isotonic'.")] = "platt",
    threads: Annotated[int, typer.Option(min=1, help="CPU threads for XGBoost and torch.")] = 1,
) -> None:
    """Train XGBoost, the network, combiner and calibration; store them with their metrics.

    Runs the handbook protocol (one training week, a 7-day label delay, one test week)
    and prints each component's and the ensemble's test-week figures.
    """
    try:
        start = date.fromisoformat(training_start)
    except ValueError:
        fail_bad_input(f"--training-start {training_start!r} is not a date; use YYYY-MM-DD")
    if calibration not in ("platt", "isotonic"):
        fail_bad_input(f"--calibration {calibration!r} is unknown; use 'platt' or 'isotonic'")
    path = transactions or _default_transactions()
    try:
        rule_set, rules_sha256 = load_rule_set(rules)
    except InvalidRules as error:
        fail_bad_input(str(error))

    container = open_application()
    try:
        dataset = container.transactions.file(path)
    except InvalidTransactionData as error:
        fail_bad_input(str(error))
    if dataset.is_fraud is None:
        fail_bad_input(f"{path}: has no TX_FRAUD column, so no model can be trained on it")

    run_id = str(uuid.uuid4())
    log.info("training run %s on %s", run_id, path)
    feature_set = container.features.feature_set()
    settings = EnsembleSettings.model_validate(
        {
            "calibration": calibration,
            "xgboost": {"threads": threads},
            "network": {"threads": threads},
        }
    )
    with console.status("Computing batch features"):
        data = HandbookData.from_dataset(dataset, feature_set)
    protocol = HandbookProtocol(training_start_day=(start - _EPOCH).days)
    with console.status("Training XGBoost and the network, fitting combiner and calibration"):
        try:
            trained = train_ensemble(data, protocol, rule_set, rules.read_bytes(), settings)
        except ValueError as error:
            fail_bad_input(str(error))

    def day_range(pair: list[int]) -> list[str]:
        return [str(_EPOCH + timedelta(days=pair[0])), str(_EPOCH + timedelta(days=pair[1]))]

    splits = trained.metrics["splits"]
    assert isinstance(splits, dict)
    lineage = {
        "run_id": run_id,
        "created_at": datetime.now(UTC).isoformat(),
        "data": {
            "source": str(path),
            "sha256": _file_sha256(path),
            "rows": len(dataset),
            "first_day": str(_EPOCH + timedelta(days=int(np.min(dataset.epoch_days)))),
            "last_day": str(_EPOCH + timedelta(days=int(np.max(dataset.epoch_days)))),
        },
        "periods": {
            name: day_range(splits[f"{name}_days"])
            for name in ("training", "combiner", "calibration", "test")
        },
        "feature_set_version": feature_set.version,
        "rules": {"version": rule_set.version, "sha256": rules_sha256},
        "components": {c.name: c.version for c in trained.components},
        "settings": settings.model_dump(mode="json"),
    }
    artifact = container.models.artifact_store(root=store).save(
        ARTIFACT_NAME, ensemble_files(trained), {"kind": "ensemble", "lineage": lineage}
    )
    _print_metrics(trained.metrics)
    console.print(f"Stored {ARTIFACT_NAME} version {artifact.version} in {store} (run {run_id})")


def _print_metrics(metrics: dict[str, object]) -> None:
    table = Table(title="Test week (handbook protocol)")
    for column in ("model", "AUC ROC", "average precision", "card precision@100"):
        table.add_column(column, justify="right" if column != "model" else "left")
    rows = [(name, metrics[name]) for name in ("xgboost", "network", "rules", "ensemble")]
    rows.append(("handbook tuned XGBoost", HANDBOOK_FIGURES))
    for name, figures in rows:
        assert isinstance(figures, dict)
        table.add_row(
            name,
            *(
                "-" if figures[key] is None else f"{figures[key]:.4f}"
                for key in ("auc_roc", "average_precision", "card_precision_at_100")
            ),
        )
    console.print(table)
    calibration = metrics["calibration"]
    assert isinstance(calibration, dict)
    console.print(
        f"calibration {calibration['kind']}: expected calibration error "
        f"{calibration['expected_calibration_error']:.5f} on the test week"
    )
