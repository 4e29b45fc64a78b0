"""Train the ensemble on the handbook protocol, evaluate it, and store it as one artifact.

Data use, in days relative to the protocol's training start T:

- components (XGBoost, the network) train on the training week, T .. T+6;
- the combiner's weights are fitted on T-14 .. T-8 and the calibration on T-7 .. T-1.
  Both weeks precede training, so the components score them out of sample, and all
  their labels are known by the time the training week ends;
- the test week is only scored, for the report, after everything is fitted.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import xgboost as xgb
import yaml
from pydantic import BaseModel, ConfigDict, Field

from twinbank.core.ensemble import (
    Calibration,
    ComponentScorer,
    EnsembleScorer,
    RulesEngine,
    RuleSet,
    RulesScorer,
    WeightedCombiner,
    calibration_from_dict,
    expected_calibration_error,
    fit_combiner,
    fit_isotonic,
    fit_platt,
    logit,
    parse_rule_set,
    reliability_table,
)
from twinbank.core.evaluation import (
    HandbookProtocol,
    auc_roc,
    average_precision,
    card_precision_at_k,
)
from twinbank.core.features.batch import compute_batch
from twinbank.core.features.definitions import FeatureSet
from twinbank.core.modeling import ModelInputs
from twinbank.core.ports import ArtifactStore, StoredArtifact
from twinbank.core.timestamps import days

from ..transactions import TransactionDataset
from .torch_mlp import MLPScorer, MLPSettings, MLPTrainer
from .xgboost_model import XGBoostScorer, XGBoostSettings, XGBoostTrainer

FloatArray = npt.NDArray[np.float64]
XGBOOST_FILE = "xgboost.ubj"
NETWORK_FILE = "network.pt"
RULES_FILE = "rules.yaml"
ENSEMBLE_FILE = "ensemble.json"
METRICS_FILE = "metrics.json"


SPENDING_RATIOS = (
    "amount/CUSTOMER_ID_AVG_AMOUNT_7DAY_WINDOW",
    "amount/CUSTOMER_ID_AVG_AMOUNT_30DAY_WINDOW",
    "CUSTOMER_ID_AVG_AMOUNT_1DAY_WINDOW/CUSTOMER_ID_AVG_AMOUNT_30DAY_WINDOW",
    "CUSTOMER_ID_AVG_AMOUNT_7DAY_WINDOW/CUSTOMER_ID_AVG_AMOUNT_30DAY_WINDOW",
)
"""The amount and the customer's recent spending against their usual spending: a
stolen card's spending departs from its holder's habits."""


class EnsembleSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    xgboost: XGBoostSettings = XGBoostSettings()
    network: MLPSettings = MLPSettings()
    calibration: Literal["isotonic", "platt"] = Field(
        "platt",
        description="Platt keeps the combined ranking; isotonic ties scores within steps.",
    )
    weights: dict[str, float] | None = Field(
        None, description="Fixed combiner weights by component; fitted when omitted."
    )
    ratio_inputs: tuple[str, ...] = Field(
        SPENDING_RATIOS,
        description=(
            "Ratio inputs ('a/b' of the amount or features) read by every component after "
            "the amount and the features; chosen on validation folds, see BENCHMARKS.md."
        ),
    )


@dataclass(frozen=True, slots=True)
class HandbookData:
    """The model-input matrix of a whole dataset with its days, cards and labels."""

    inputs: ModelInputs
    matrix: FloatArray
    days: npt.NDArray[np.int64]
    cards: npt.NDArray[np.int64]
    labels: npt.NDArray[np.bool_]

    @classmethod
    def from_dataset(
        cls, dataset: TransactionDataset, feature_set: FeatureSet, label_delay_days: int = 7
    ) -> HandbookData:
        """Compute the batch features of every transaction (labels known after
        ``label_delay_days``) and return them with the amount as model inputs."""
        features = compute_batch(
            feature_set, dataset.table(), dataset.labels(days(label_delay_days))
        )
        columns = {name: features[:, index] for index, name in enumerate(feature_set.names)}
        columns["amount"] = dataset.amount
        inputs = ModelInputs(("amount", *feature_set.names), feature_set.names)
        return cls(
            inputs,
            inputs.from_columns(columns),
            dataset.epoch_days,
            dataset.customer_id,
            dataset.is_fraud,
        )

    def with_ratios(self, ratios: Sequence[str]) -> HandbookData:
        """Return the same rows with the ratio inputs appended to the matrix."""
        if not ratios:
            return self
        inputs = ModelInputs((*self.inputs.names, *ratios), self.inputs.feature_names)
        columns = {name: self.matrix[:, index] for index, name in enumerate(self.inputs.names)}
        return HandbookData(
            inputs, inputs.from_columns(columns), self.days, self.cards, self.labels
        )


@dataclass(frozen=True, slots=True)
class TrainedEnsemble:
    inputs: ModelInputs
    components: tuple[ComponentScorer, ...]
    combiner: WeightedCombiner
    calibration: Calibration
    rules_text: bytes
    metrics: dict[str, object]


def _metrics(
    data: HandbookData, mask: npt.NDArray[np.bool_], scores: FloatArray
) -> dict[str, float]:
    labels = data.labels[mask]
    return {
        "auc_roc": round(auc_roc(labels, scores), 4),
        "average_precision": round(average_precision(labels, scores), 4),
        "card_precision_at_100": round(
            card_precision_at_k(data.days[mask], data.cards[mask], labels, scores, 100).mean, 4
        ),
    }


def _component_log_odds(components: tuple[ComponentScorer, ...], matrix: FloatArray) -> FloatArray:
    return np.column_stack([logit(c.score_matrix(matrix)) for c in components])


def train_ensemble(
    data: HandbookData,
    protocol: HandbookProtocol,
    rule_set: RuleSet,
    rules_text: bytes,
    settings: EnsembleSettings,
) -> TrainedEnsemble:
    """Fit components, combiner and calibration (see the module docstring) and report."""
    data = data.with_ratios(settings.ratio_inputs)
    split = protocol.split(data.days, data.cards, data.labels)
    start = protocol.training_start_day
    combiner_week = (data.days >= start - 14) & (data.days < start - 7)
    calibration_week = (data.days >= start - 7) & (data.days < start)
    for label, mask in (("combiner", combiner_week), ("calibration", calibration_week)):
        if data.labels[mask].sum() == 0:
            raise ValueError(
                f"the {label} week before training day {start} holds no labelled fraud; "
                "start the protocol at least 14 days after the first day of data"
            )

    training = split.training
    xgboost = XGBoostTrainer(settings.xgboost).train(
        data.matrix[training], data.labels[training], data.inputs
    )
    network = MLPTrainer(settings.network).train(
        data.matrix[training], data.labels[training], data.inputs
    )
    rules = RulesScorer(RulesEngine(rule_set, data.inputs.names), data.inputs.names)
    components: tuple[ComponentScorer, ...] = (xgboost, network, rules)
    names = tuple(c.name for c in components)

    if settings.weights is None:
        combiner = fit_combiner(
            names,
            _component_log_odds(components, data.matrix[combiner_week]),
            data.labels[combiner_week],
        )
    else:
        missing = set(names) - set(settings.weights)
        if missing:
            raise ValueError(f"weights: no weight for components {sorted(missing)}; give one each")
        combiner = WeightedCombiner(names, tuple(settings.weights[n] for n in names))

    combined = combiner.combine(_component_log_odds(components, data.matrix[calibration_week]))
    fit = fit_isotonic if settings.calibration == "isotonic" else fit_platt
    calibration = fit(combined, data.labels[calibration_week])

    metrics = evaluate(data, split.test, components, combiner, calibration)
    metrics["splits"] = {
        "training_days": [start, protocol.training_end_day - 1],
        "combiner_days": [start - 14, start - 8],
        "calibration_days": [start - 7, start - 1],
        "test_days": [protocol.test_start_day, protocol.test_end_day - 1],
        "test_transactions": int(split.test.sum()),
        "test_frauds": int(data.labels[split.test].sum()),
    }
    return TrainedEnsemble(data.inputs, components, combiner, calibration, rules_text, metrics)


def evaluate(
    data: HandbookData,
    test: npt.NDArray[np.bool_],
    components: tuple[ComponentScorer, ...],
    combiner: WeightedCombiner,
    calibration: Calibration,
) -> dict[str, object]:
    """Score the test rows with each component and the ensemble; calibration report too."""
    matrix = data.matrix[test]
    log_odds = _component_log_odds(components, matrix)
    report: dict[str, object] = {}
    for column, component in enumerate(components):
        report[component.name] = _metrics(data, test, log_odds[:, column])
    rules = next(c for c in components if isinstance(c, RulesScorer))
    floor = rules.engine.evaluate(matrix).floor
    probabilities = np.maximum(calibration.probabilities(combiner.combine(log_odds)), floor)
    report["ensemble"] = _metrics(data, test, probabilities)
    labels = data.labels[test]
    report["combiner"] = {
        "names": list(combiner.names),
        "weights": list(combiner.weights),
        "intercept": combiner.intercept,
    }
    report["calibration"] = {
        "kind": calibration.kind,
        "expected_calibration_error": round(expected_calibration_error(labels, probabilities), 5),
        "reliability": [
            {
                "lower": row.lower,
                "upper": row.upper,
                "count": row.count,
                "mean_predicted": round(row.mean_predicted, 4),
                "observed_fraud_rate": round(row.observed_fraud_rate, 4),
            }
            for row in reliability_table(labels, probabilities)
        ],
    }
    return report


def ensemble_files(trained: TrainedEnsemble) -> dict[str, bytes]:
    xgboost, network, _ = trained.components
    if not isinstance(xgboost, XGBoostScorer) or not isinstance(network, MLPScorer):
        raise TypeError(
            f"cannot store components {trained.components}; expected XGBoost, network, rules"
        )
    description = {
        "input_names": list(trained.inputs.names),
        "feature_names": list(trained.inputs.feature_names),
        "combiner": {
            "names": list(trained.combiner.names),
            "weights": list(trained.combiner.weights),
            "intercept": trained.combiner.intercept,
        },
        "calibration": trained.calibration.to_dict(),
    }
    return {
        XGBOOST_FILE: bytes(xgboost.booster.save_raw(raw_format="ubj")),
        NETWORK_FILE: network.to_bytes(),
        RULES_FILE: trained.rules_text,
        ENSEMBLE_FILE: json.dumps(description, indent=2).encode(),
        METRICS_FILE: json.dumps(trained.metrics, indent=2).encode(),
    }


@dataclass(frozen=True, slots=True)
class LoadedEnsemble:
    inputs: ModelInputs
    components: tuple[ComponentScorer, ...]
    combiner: WeightedCombiner
    calibration: Calibration
    manifest: dict[str, object]


def ensemble_from_artifact(artifact: StoredArtifact, threads: int = 1) -> LoadedEnsemble:
    """Rebuild the components from a stored (and already hash-checked) artifact."""
    description = json.loads(artifact.files[ENSEMBLE_FILE])
    inputs = ModelInputs(tuple(description["input_names"]), tuple(description["feature_names"]))
    booster = xgb.Booster()
    booster.load_model(bytearray(artifact.files[XGBOOST_FILE]))
    booster.set_param({"nthread": threads})
    xgboost = XGBoostScorer(booster, inputs.names, threads)
    network = MLPScorer.from_bytes(artifact.files[NETWORK_FILE], threads=threads)
    source = f"{artifact.name}/{artifact.version}/{RULES_FILE}"
    rule_set = parse_rule_set(yaml.safe_load(io.BytesIO(artifact.files[RULES_FILE])), source)
    rules = RulesScorer(RulesEngine(rule_set, inputs.names), inputs.names)
    combiner_data = description["combiner"]
    combiner = WeightedCombiner(
        tuple(combiner_data["names"]), tuple(combiner_data["weights"]), combiner_data["intercept"]
    )
    return LoadedEnsemble(
        inputs,
        (xgboost, network, rules),
        combiner,
        calibration_from_dict(description["calibration"]),
        artifact.manifest,
    )


class StoredEnsemble:
    """A ModelTrainer that loads a stored ensemble instead of fitting one.

    Scenario runs that name an artifact version use it: ``train`` ignores the training
    rows and returns the stored ensemble, after the store has checked its hashes. The
    ensemble reads the inputs it was trained on; ``inputs``, when a scenario lists
    them, must be the same.
    """

    def __init__(
        self,
        store: ArtifactStore,
        name: str,
        version: str,
        threads: int = 1,
        inputs: tuple[str, ...] | None = None,
    ) -> None:
        self._store = store
        self._name = name
        self._version = version
        self._threads = threads
        self._inputs = inputs

    def train(
        self, inputs: FloatArray, labels: npt.NDArray[np.bool_], model_inputs: ModelInputs
    ) -> EnsembleScorer:
        loaded = ensemble_from_artifact(self._store.load(self._name, self._version), self._threads)
        if self._inputs is not None and loaded.inputs.names != self._inputs:
            raise ValueError(
                f"artifact {self._name} {self._version} reads {loaded.inputs.names}, but the "
                f"scenario's model inputs are {self._inputs}; make them equal or leave "
                "them out"
            )
        return EnsembleScorer(
            loaded.components,
            loaded.combiner,
            loaded.calibration,
            f"{self._name}-{self._version}",
        )
