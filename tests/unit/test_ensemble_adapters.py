"""XGBoost and network components, TreeSHAP local accuracy, and the artifact store."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from twinbank.adapters.artifacts import ArtifactRejected, LocalArtifactStore
from twinbank.adapters.models.torch_mlp import MLPScorer, MLPSettings, MLPTrainer
from twinbank.adapters.models.xgboost_model import XGBoostSettings, XGBoostTrainer
from twinbank.core.ensemble import ExplanationUnavailable, logit
from twinbank.core.modeling import ModelInputs

INPUTS = ModelInputs(("amount", "average", "risk"), ("average", "risk"))


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    generator = np.random.default_rng(0)
    matrix = generator.normal(size=(3_000, 3)) * [50, 20, 0.3] + [60, 50, 0.2]
    log_odds = -4 + 0.03 * (matrix[:, 0] - 60) + 6 * matrix[:, 2]
    labels = generator.random(len(matrix)) < 1 / (1 + np.exp(-log_odds))
    matrix[::17, 1] = np.nan
    return matrix, labels


@pytest.fixture(scope="module")
def xgboost(data):
    matrix, labels = data
    return XGBoostTrainer(XGBoostSettings(n_estimators=30, max_depth=4)).train(
        matrix, labels, INPUTS
    )


@pytest.fixture(scope="module")
def network(data):
    matrix, labels = data
    return MLPTrainer(MLPSettings(epochs=2, hidden=(8,), device="cpu")).train(
        matrix, labels, INPUTS
    )


def test_tree_shap_is_locally_accurate(xgboost, data):
    matrix, _ = data
    for row in matrix[:50]:
        explanation = xgboost.explain_row(row)
        total = explanation.base_log_odds + sum(explanation.contributions)
        assert total == pytest.approx(float(logit(np.array(xgboost.score_row(row)))), abs=1e-4)


def test_tree_shap_batch_equals_rows(xgboost, data):
    matrix, _ = data
    batch = xgboost.explain_rows(matrix[:5])
    for position, row in enumerate(matrix[:5]):
        assert batch[position, :-1].tolist() == pytest.approx(
            xgboost.explain_row(row).contributions
        )


def test_xgboost_row_equals_matrix(xgboost, data):
    matrix, _ = data
    assert xgboost.score_row(matrix[3]) == pytest.approx(xgboost.score_matrix(matrix[3:4])[0])


def test_network_fills_null_with_training_median(network, data):
    matrix, _ = data
    row = matrix[0].copy()
    row[1] = math.nan
    filled = row.copy()
    filled[1] = np.nanmedian(matrix[:, 1])
    assert network.score_row(row) == pytest.approx(network.score_row(filled))
    assert 0.0 < network.score_row(row) < 1.0


def test_network_training_is_repeatable(data):
    matrix, labels = data
    settings = MLPSettings(epochs=1, hidden=(4,), device="cpu", seed=3)
    first = MLPTrainer(settings).train(matrix, labels, INPUTS)
    second = MLPTrainer(settings).train(matrix, labels, INPUTS)
    assert first.version == second.version


def test_network_round_trips_through_bytes(network, data):
    matrix, _ = data
    rebuilt = MLPScorer.from_bytes(network.to_bytes())
    np.testing.assert_array_equal(
        rebuilt.score_matrix(matrix[:20]), network.score_matrix(matrix[:20])
    )
    assert rebuilt.version == network.version


def test_network_is_explained_offline(network, data):
    with pytest.raises(ExplanationUnavailable, match="offline"):
        network.explain_row(data[0][0])


def test_network_rejects_wrong_width(network):
    with pytest.raises(ValueError, match="has 2 columns; the network reads 3"):
        network.score_matrix(np.zeros((1, 2)))


def test_artifact_store_round_trip(tmp_path: Path):
    store = LocalArtifactStore(tmp_path)
    saved = store.save("fraud", {"a.bin": b"abc", "b.json": b"{}"}, {"run_id": "r1"})
    loaded = store.load("fraud", saved.version)
    assert loaded.files == {"a.bin": b"abc", "b.json": b"{}"}
    assert loaded.manifest["run_id"] == "r1"
    assert store.versions("fraud") == (saved.version,)


def test_artifact_with_replaced_file_is_rejected(tmp_path: Path):
    store = LocalArtifactStore(tmp_path)
    saved = store.save("fraud", {"a.bin": b"abc"}, {})
    (tmp_path / "fraud" / saved.version / "a.bin").write_bytes(b"abd")
    with pytest.raises(ArtifactRejected, match=r"a\.bin has SHA-256 .* replaced or damaged"):
        store.load("fraud", saved.version)


def test_artifact_with_edited_manifest_is_rejected(tmp_path: Path):
    store = LocalArtifactStore(tmp_path)
    saved = store.save("fraud", {"a.bin": b"abc"}, {})
    other = store.save("fraud", {"a.bin": b"xyz"}, {})
    # Swap in the other artifact's manifest and file: every digest matches, the version not.
    folder = tmp_path / "fraud" / saved.version
    source = tmp_path / "fraud" / other.version
    (folder / "a.bin").write_bytes((source / "a.bin").read_bytes())
    (folder / "manifest.json").write_text((source / "manifest.json").read_text())
    with pytest.raises(ArtifactRejected, match="hash to version"):
        store.load("fraud", saved.version)


def test_unknown_artifact_version_lists_known(tmp_path: Path):
    store = LocalArtifactStore(tmp_path)
    saved = store.save("fraud", {"a.bin": b"abc"}, {})
    with pytest.raises(ArtifactRejected, match=f"stored versions of 'fraud': {saved.version}"):
        store.load("fraud", "0123456789abcdef")


def test_artifact_names_must_be_plain(tmp_path: Path):
    with pytest.raises(ArtifactRejected, match="not a plain file name"):
        LocalArtifactStore(tmp_path).save("../escape", {"a": b""}, {})


def test_network_rejects_all_null_column(data):
    matrix, labels = data
    blank = matrix.copy()
    blank[:, 2] = np.nan
    with pytest.raises(ValueError, match=r"inputs \['risk'\] are null in every training row"):
        MLPTrainer(MLPSettings(epochs=1, device="cpu")).train(blank, labels, INPUTS)
