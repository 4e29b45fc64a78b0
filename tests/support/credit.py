"""Credit data for fairness tests: the real data sets through TWINBANK_DATA_DIR, and a
small synthetic data set with a built-in age disparity."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from .data import real_data_file


def credit_data_dir() -> Path:
    """Return the folder holding credit/ (see ``real_data_file``)."""
    for name in ("taiwan-credit-default.csv", "german-credit.csv"):
        path = real_data_file("credit", name)
    return path.parents[1]


def write_synthetic_credit(folder: Path, rows: int = 2_000, seed: int = 1) -> Path:
    """Write credit/synthetic.csv under ``folder``: income drives default, and applicants
    under 30 have lower income, so an approval model disfavours them without seeing age."""
    rng = np.random.default_rng(seed)
    age = rng.integers(20, 70, rows)
    sex = rng.choice(["F", "M"], rows)
    income = rng.normal(3_000, 800, rows) - (age < 30) * 900
    debt = rng.normal(1_000, 300, rows)
    purpose = rng.choice(["car", "home < 1y", "other"], rows)
    risk = 1 / (1 + np.exp((income - debt - 1_600) / 350))
    default = (rng.random(rows) < risk).astype(int)
    frame = pd.DataFrame(
        {
            "income": income,
            "debt": debt,
            "purpose": purpose,
            "age": age,
            "sex": sex,
            "default": default,
        }
    )
    path = folder / "credit" / "synthetic.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return path


SYNTHETIC_STUDY = {
    "name": "synthetic-fairness",
    "studies": [
        {
            "name": "synthetic",
            "model_name": "credit-synthetic",
            "file": "credit/synthetic.csv",
            "target": "default",
            "bad_outcome": 1,
            "protected": [
                {
                    "kind": "categories",
                    "attribute": "sex",
                    "column": "sex",
                    "groups": {"female": ["F"], "male": ["M"]},
                },
                {"kind": "bands", "attribute": "age_band", "column": "age", "edges": [30, 50]},
            ],
            "max_default_probability": 0.5,
            "seed": 3,
            "model": {"n_estimators": 40},
        }
    ],
}


def write_study_file(folder: Path, document: dict | None = None) -> Path:
    path = folder / "study.yaml"
    path.write_text(yaml.safe_dump(document or SYNTHETIC_STUDY), encoding="utf-8")
    return path
