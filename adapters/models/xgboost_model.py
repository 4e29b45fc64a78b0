"""XGBoost as a scorer and a trainer."""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import numpy.typing as npt
import xgboost as xgb
from pydantic import BaseModel, ConfigDict, Field

from twinbank.core.ensemble import ComponentExplanation, ExplanationMethod
from twinbank.core.modeling import ModelInputs

FloatArray = npt.NDArray[np.float64]


class XGBoostSettings(BaseModel):
    """Hyperparameters of the gradient-boosted trees.

    The defaults were chosen by model selection on four validation weeks before the
    handbook's training week (see BENCHMARKS.md), never on its test week.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_depth: int = Field(6, ge=1, le=16)
    n_estimators: int = Field(100, ge=1, le=5000)
    learning_rate: float = Field(0.05, gt=0.0, le=1.0)
    subsample: float = Field(1.0, gt=0.0, le=1.0)
    colsample_bytree: float = Field(1.0, gt=0.0, le=1.0)
    min_child_weight: float = Field(1.0, ge=0.0)
    seed: int = 0
    threads: int = Field(1, ge=1, description="CPU threads for training and prediction")


class XGBoostScorer:
    """A trained booster behind the Scorer port and the ensemble's component port.

    ``version`` is a content hash of the serialized booster, so two scorers with the
    same version give the same scores. NaN inputs take each tree's learned default
    branch for missing values, the same at training and at scoring time.
    """

    name = "xgboost"
    explanation_method = ExplanationMethod.TREE_SHAP

    def __init__(
        self, booster: xgb.Booster, input_names: tuple[str, ...], threads: int = 1
    ) -> None:
        self._booster = booster
        self._input_names = input_names
        self._threads = threads
        raw = booster.save_raw(raw_format="ubj")
        self._version = "xgb-" + hashlib.sha256(bytes(raw)).hexdigest()[:12]

    @property
    def version(self) -> str:
        return self._version

    @property
    def input_names(self) -> tuple[str, ...]:
        return self._input_names

    @property
    def booster(self) -> xgb.Booster:
        return self._booster

    def score_matrix(self, inputs: FloatArray) -> FloatArray:
        if inputs.shape[1] != len(self._input_names):
            raise ValueError(
                f"input matrix has {inputs.shape[1]} columns; the model reads "
                f"{len(self._input_names)}: {self._input_names}"
            )
        scores = self._booster.inplace_predict(inputs, validate_features=False)
        return np.asarray(scores, dtype=np.float64)

    def score_row(self, row: FloatArray) -> float:
        return float(self.score_matrix(row.reshape(1, -1))[0])

    def explain_rows(self, inputs: FloatArray) -> FloatArray:
        """Return TreeSHAP values in log-odds, ``(n, inputs + 1)``; the last column is the base.

        XGBoost's ``pred_contribs`` computes exact TreeSHAP; each row sums to the margin.
        """
        # DMatrix defaults to every core; one thread is far faster for a single row.
        matrix = xgb.DMatrix(inputs, missing=np.nan, nthread=self._threads)
        contributions = self._booster.predict(matrix, pred_contribs=True, validate_features=False)
        return np.asarray(contributions, dtype=np.float64)

    def explain_row(self, row: FloatArray) -> ComponentExplanation:
        contributions = self.explain_rows(row.reshape(1, -1))[0]
        return ComponentExplanation(
            float(contributions[-1]), tuple(float(c) for c in contributions[:-1])
        )


class XGBoostTrainer:
    """Fits a binary:logistic booster (the ModelTrainer port)."""

    def __init__(self, settings: XGBoostSettings) -> None:
        self._settings = settings

    def train(
        self, inputs: FloatArray, labels: npt.NDArray[np.bool_], model_inputs: ModelInputs
    ) -> XGBoostScorer:
        settings = self._settings
        params: dict[str, Any] = {
            "objective": "binary:logistic",
            "eval_metric": "logloss",
            "tree_method": "hist",
            "max_depth": settings.max_depth,
            "eta": settings.learning_rate,
            "subsample": settings.subsample,
            "colsample_bytree": settings.colsample_bytree,
            "min_child_weight": settings.min_child_weight,
            "seed": settings.seed,
            "nthread": settings.threads,
        }
        matrix = xgb.DMatrix(
            inputs, label=labels.astype(np.float32), feature_names=list(model_inputs.names)
        )
        booster = xgb.train(params, matrix, num_boost_round=settings.n_estimators)
        return XGBoostScorer(booster, model_inputs.names, settings.threads)
