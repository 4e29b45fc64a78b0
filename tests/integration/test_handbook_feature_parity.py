"""Both engines reproduce the handbook's published features exactly.

The committed slices run everywhere; the full April-July comparison runs when the real
data is configured (TWINBANK_DATA_DIR).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from tests.support.handbook import SEQUENCE_COLUMN, handbook_arrival_sequence, handbook_data_dir
from twinbank.entrypoints.cli import app

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
TOLERANCE = 1e-9


def _compute(transactions: Path, out: Path, mode: str) -> pd.DataFrame:
    result = CliRunner().invoke(
        app,
        [
            "features",
            "compute",
            "--transactions",
            str(transactions),
            "--out",
            str(out),
            "--mode",
            mode,
            "--sequence-column",
            SEQUENCE_COLUMN,
        ],
    )
    assert result.exit_code == 0, result.output
    return pd.read_parquet(out)


def _assert_matches_reference(computed: pd.DataFrame, reference: pd.DataFrame) -> None:
    merged = reference.merge(computed, on="TRANSACTION_ID", suffixes=("_ref", ""), validate="1:1")
    assert len(merged) == len(reference), "some reference transactions got no features"
    for column in reference.columns.drop("TRANSACTION_ID"):
        difference = np.abs(merged[column].to_numpy() - merged[f"{column}_ref"].to_numpy())
        worst = int(np.argmax(difference))
        assert difference[worst] <= TOLERANCE, (
            f"{column}: transaction {merged['TRANSACTION_ID'].iloc[worst]} differs by "
            f"{difference[worst]} (computed {merged[column].iloc[worst]}, "
            f"published {merged[f'{column}_ref'].iloc[worst]})"
        )


@pytest.mark.parametrize("mode", ["stream", "batch"])
@pytest.mark.parametrize("part", ["customers", "terminals"])
def test_committed_slice_matches_published_features(tmp_path: Path, part: str, mode: str):
    computed = _compute(
        FIXTURES / f"handbook-{part}-transactions.parquet", tmp_path / "features.parquet", mode
    )
    reference = pd.read_parquet(FIXTURES / f"handbook-{part}-features.parquet")
    _assert_matches_reference(computed, reference)


def test_slice_without_handbook_ties_differs_only_on_tied_pairs(tmp_path: Path):
    """Without the handbook's arrival order, only same-second customer pairs change."""
    source = pd.read_parquet(FIXTURES / "handbook-customers-transactions.parquet")
    plain = tmp_path / "plain.parquet"
    source.drop(columns=[SEQUENCE_COLUMN]).to_parquet(plain)
    result = CliRunner().invoke(
        app,
        ["features", "compute", "--transactions", str(plain), "--out", str(tmp_path / "f.parquet")],
    )
    assert result.exit_code == 0, result.output
    computed = pd.read_parquet(tmp_path / "f.parquet")
    reference = pd.read_parquet(FIXTURES / "handbook-customers-features.parquet")
    merged = reference.merge(computed, on="TRANSACTION_ID", suffixes=("_ref", ""))
    column = "CUSTOMER_ID_NB_TX_1DAY_WINDOW"
    differing = set(merged.loc[merged[column] != merged[f"{column}_ref"], "TRANSACTION_ID"])
    tied = source[source.duplicated(["CUSTOMER_ID", "TX_DATETIME"], keep=False)]
    assert differing, "the slice should contain a pair the handbook ordered against id"
    assert differing <= set(tied["TRANSACTION_ID"])


@pytest.mark.realdata
@pytest.mark.slow
@pytest.mark.parametrize("mode", ["batch", "stream"])
def test_full_april_to_july_matches_published_features(tmp_path: Path, mode: str):
    folder = handbook_data_dir()
    transactions = pd.read_parquet(folder / "transactions.parquet")
    transactions[SEQUENCE_COLUMN] = handbook_arrival_sequence(transactions)
    source = tmp_path / "transactions.parquet"
    transactions.to_parquet(source)
    computed = _compute(source, tmp_path / "features.parquet", mode)
    reference = pd.read_parquet(folder / "features-2018-04-to-07.parquet")
    assert len(reference) == 1_169_723
    _assert_matches_reference(computed, reference)
