"""A credit approval study: train a default model without the protected attributes,
decide the held-out applicants, and analyse the decisions by protected group."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.model_selection import train_test_split

from twinbank.adapters.models.xgboost_model import XGBoostSettings, XGBoostTrainer
from twinbank.core.evaluation.intervals import auc_delong_interval
from twinbank.core.fairness import (
    FairnessReport,
    FairnessSettings,
    analyse_attribute,
    wilson_interval,
)
from twinbank.core.governance import MetricEstimate, PerformanceEvidence
from twinbank.core.modeling import ModelInputs

from .spec import BandAttribute, CategoryAttribute, CreditStudy, InvalidStudy


@dataclass(frozen=True)
class StudyOutcome:
    """What a study produced: the fairness report and performance evidence of its model,
    and the columns the model read."""

    study: CreditStudy
    report: FairnessReport
    performance: PerformanceEvidence
    inputs: tuple[str, ...]
    training_rows: int
    test_rows: int


def run_study(study: CreditStudy, data_dir: Path, settings: FairnessSettings) -> StudyOutcome:
    """Run one study on ``data_dir / study.file``; raises InvalidStudy for a missing file,
    missing columns, target values other than 0/1 or unmapped group values."""
    frame = _read(study, data_dir)
    bad = (frame[study.target] == study.bad_outcome).to_numpy()
    groups = {
        attribute.attribute: _groups(study, attribute, frame) for attribute in study.protected
    }
    inputs = _model_inputs(study, frame)
    rows = np.arange(len(frame))
    training, test = train_test_split(
        rows, test_size=study.test_fraction, stratify=bad, random_state=study.seed
    )
    names = tuple(inputs.columns)
    matrix = inputs.to_numpy(dtype=np.float64)
    trainer = XGBoostTrainer(
        XGBoostSettings(
            max_depth=study.model.max_depth,
            n_estimators=study.model.n_estimators,
            learning_rate=study.model.learning_rate,
            threads=study.model.threads,
            seed=study.seed,
        )
    )
    scorer = trainer.train(matrix[training], bad[training], ModelInputs(names, names))
    default_probability = scorer.score_matrix(matrix[test])
    approved = default_probability < study.max_default_probability
    qualified = ~bad[test]
    population = (
        f"held-out test set: {len(test):,} of {len(frame):,} applicants "
        f"({study.test_fraction:.0%}, stratified by outcome, seed {study.seed})"
    )
    report = FairnessReport(
        model=study.model_id,
        dataset=f"{study.name}: {study.file}",
        population=population,
        decision_rule=(
            f"approve when the predicted probability of default is below "
            f"{study.max_default_probability}"
        ),
        attributes=[
            analyse_attribute(
                attribute.attribute,
                groups[attribute.attribute][test],
                approved,
                qualified,
                settings,
                order=_group_order(attribute),
            )
            for attribute in study.protected
        ],
    )
    performance = _performance(study, bad[test], default_probability, approved, population)
    return StudyOutcome(study, report, performance, names, len(training), len(test))


def _read(study: CreditStudy, data_dir: Path) -> pd.DataFrame:
    path = data_dir / study.file
    if not path.is_file():
        raise InvalidStudy(
            f"study {study.name!r}: {path} does not exist; point --data-dir (or "
            "TWINBANK_DATA_DIR) at the folder that holds credit/"
        )
    frame = pd.read_csv(path)
    needed = [study.target, *study.excluded_inputs, *(a.column for a in study.protected)]
    missing = [column for column in needed if column not in frame.columns]
    if missing:
        raise InvalidStudy(
            f"study {study.name!r}: {path} has no column {missing}; its columns are "
            f"{list(frame.columns)}"
        )
    values = set(frame[study.target].unique().tolist())
    if not values <= {0, 1} or study.bad_outcome not in values:
        raise InvalidStudy(
            f"study {study.name!r}: target {study.target!r} holds {sorted(values)}; it must be "
            f"0/1 and contain bad_outcome {study.bad_outcome}"
        )
    return frame


def _groups(
    study: CreditStudy, attribute: CategoryAttribute | BandAttribute, frame: pd.DataFrame
) -> npt.NDArray[np.str_]:
    column = frame[attribute.column]
    if isinstance(attribute, BandAttribute):
        labels = np.array(attribute.labels())
        return labels[np.digitize(column.to_numpy(), attribute.edges)]
    by_value = {value: group for group, values in attribute.groups.items() for value in values}
    text = column.astype(str)
    unmapped = sorted(set(text) - set(by_value))
    if unmapped:
        raise InvalidStudy(
            f"study {study.name!r}: column {attribute.column!r} holds {unmapped}, which no "
            f"group of {attribute.attribute!r} covers; add them to its groups"
        )
    return text.map(by_value).to_numpy().astype(str)


def _group_order(attribute: CategoryAttribute | BandAttribute) -> list[str]:
    if isinstance(attribute, BandAttribute):
        return attribute.labels()
    return list(attribute.groups)


def _model_inputs(study: CreditStudy, frame: pd.DataFrame) -> pd.DataFrame:
    dropped = {study.target, *study.excluded_inputs, *(a.column for a in study.protected)}
    inputs = frame.drop(columns=sorted(dropped))
    categorical = [
        name for name in inputs.columns if not pd.api.types.is_numeric_dtype(inputs[name])
    ]
    encoded = pd.get_dummies(inputs, columns=categorical, prefix_sep="=", dtype=np.float64)
    # XGBoost rejects '[', ']' and '<' in feature names; German credit's categories use '<'.
    return encoded.rename(
        columns=lambda name: name.replace("<", "below").replace("[", "(").replace("]", ")")
    )


def _performance(
    study: CreditStudy,
    bad: npt.NDArray[np.bool_],
    default_probability: npt.NDArray[np.float64],
    approved: npt.NDArray[np.bool_],
    population: str,
) -> PerformanceEvidence:
    auc = auc_delong_interval(bad, default_probability)
    correct = int((approved == ~bad).sum())
    approvals = int(approved.sum())
    bad_approved = int((bad & approved).sum())

    def rate(successes: int, trials: int) -> MetricEstimate:
        interval = wilson_interval(successes, trials)
        return MetricEstimate(
            value=successes / trials, lower=interval.lower, upper=interval.upper, method="Wilson"
        )

    metrics = {
        "auc_roc": MetricEstimate(value=auc.auc, lower=auc.lower, upper=auc.upper, method="DeLong"),
        "accuracy": rate(correct, len(bad)),
        "approval_rate": rate(approvals, len(bad)),
        "default_rate": rate(int(bad.sum()), len(bad)),
    }
    if approvals:
        metrics["default_rate_among_approved"] = rate(bad_approved, approvals)
    return PerformanceEvidence(
        model=study.model_id,
        evaluation_data=f"{study.name}: {population}",
        training_data=f"{study.name}: the other {1 - study.test_fraction:.0%} of {study.file}",
        metrics=metrics,
    )
