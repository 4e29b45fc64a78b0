"""Model artifacts on disk: what ``twinbank serve`` loads.

An artifact is a folder holding ``manifest.json`` and the booster in XGBoost's UBJSON
format. The manifest names the model kind, its content-hash version, its ordered
input names, the feature-set version it was trained on and the SHA-256 of the booster
file. Loading checks the file's digest before XGBoost parses it (XGBoost 3.2 can crash
the process on a damaged file) and then that the booster's hash equals the recorded
version, so a replaced or damaged file is refused instead of served under the old name.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import xgboost as xgb
from pydantic import BaseModel, ConfigDict, ValidationError

from .xgboost_model import XGBoostScorer

MANIFEST = "manifest.json"
BOOSTER = "model.ubj"


class InvalidModelArtifact(ValueError):
    """A model folder that cannot be served; the message names the file and the fix."""


class ModelManifest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: str
    version: str
    input_names: tuple[str, ...]
    feature_set_version: str
    booster_sha256: str
    trained_on: str = ""


def save_xgboost_artifact(
    scorer: XGBoostScorer, folder: Path, feature_set_version: str, trained_on: str = ""
) -> ModelManifest:
    """Write the scorer's booster and manifest into ``folder`` (created when missing)."""
    folder.mkdir(parents=True, exist_ok=True)
    scorer.booster.save_model(folder / BOOSTER)
    manifest = ModelManifest(
        kind="xgboost",
        version=scorer.version,
        input_names=scorer.input_names,
        feature_set_version=feature_set_version,
        booster_sha256=hashlib.sha256((folder / BOOSTER).read_bytes()).hexdigest(),
        trained_on=trained_on,
    )
    (folder / MANIFEST).write_text(manifest.model_dump_json(indent=2) + "\n", encoding="utf-8")
    return manifest


def load_artifact(folder: Path) -> tuple[XGBoostScorer, ModelManifest]:
    """Return the scorer and manifest of an artifact folder; raises InvalidModelArtifact."""
    path = folder / MANIFEST
    if not path.is_file():
        raise InvalidModelArtifact(
            f"{path} does not exist; point to a folder written by `twinbank train-model`"
        )
    try:
        manifest = ModelManifest.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except OSError as error:
        raise InvalidModelArtifact(f"{path} cannot be read: {error}") from None
    except (ValueError, ValidationError) as error:
        raise InvalidModelArtifact(f"{path} is not a valid model manifest: {error}") from None
    if manifest.kind != "xgboost":
        raise InvalidModelArtifact(
            f"{path}: field kind is {manifest.kind!r}; this version serves 'xgboost' models"
        )
    digest = hashlib.sha256((folder / BOOSTER).read_bytes()).hexdigest()
    if digest != manifest.booster_sha256:
        raise InvalidModelArtifact(
            f"{folder / BOOSTER} has SHA-256 {digest}, but {path} records "
            f"{manifest.booster_sha256}; the booster file was replaced or damaged"
        )
    booster = xgb.Booster()
    try:
        booster.load_model(folder / BOOSTER)
    except xgb.core.XGBoostError as error:
        raise InvalidModelArtifact(f"{folder / BOOSTER} cannot be loaded: {error}") from None
    booster.set_param({"nthread": 1})
    scorer = XGBoostScorer(booster, manifest.input_names)
    if scorer.version != manifest.version:
        raise InvalidModelArtifact(
            f"{folder / BOOSTER} hashes to {scorer.version}, but {path} records version "
            f"{manifest.version}; the booster file was replaced or damaged"
        )
    return scorer, manifest
