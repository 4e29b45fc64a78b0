"""Time the evaluation metrics against baselines measured in the same run.

AUC ROC and average precision are compared with scikit-learn's ``roc_auc_score`` and
``average_precision_score``. Card precision@100 is compared with a direct pandas
implementation that groups by day and card, sorts and takes the top 100. The inputs are
synthetic: about 1 % fraud, scores rounded to two decimals so that ties occur, and rows
spread at random over ``--days`` days and ``--cards`` cards.

Run: python benchmarks/bench_evaluation.py [--rows 1000000] [--repeats 15]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

from twinbank.core.evaluation import auc_roc, average_precision, card_precision_at_k


def synthetic_transactions(rows: int, days: int, cards: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = (rng.random(rows) < 0.01).astype(np.int64)
    scores = np.round(rng.random(rows) * 0.7 + labels * rng.random(rows) * 0.3, 2)
    return {
        "days": np.sort(rng.integers(0, days, rows)),
        "cards": rng.integers(0, cards, rows),
        "labels": labels,
        "scores": scores,
    }


def pandas_card_precision(data: dict[str, np.ndarray], k: int) -> float:
    frame = pd.DataFrame(data)
    found: set[int] = set()
    per_day = []
    for _, day in frame.groupby("days", sort=True):
        open_cards = day[~day["cards"].isin(found)]
        per_card = open_cards.groupby("cards", as_index=False).agg(
            score=("scores", "max"), fraud=("labels", "max")
        )
        top = per_card.sort_values(
            ["score", "cards"], ascending=[False, True], kind="mergesort"
        ).head(k)
        caught = top.loc[top["fraud"] == 1, "cards"]
        found.update(caught)
        per_day.append(len(caught) / k)
    return float(np.mean(per_day))


def timings_ms(function: Callable[[], float], repeats: int) -> np.ndarray:
    function()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        samples.append((time.perf_counter() - start) * 1_000)
    return np.array(samples)


def report(name: str, ours: np.ndarray, baseline: np.ndarray) -> None:
    ratio = np.median(ours) / np.median(baseline)
    print(
        f"{name:<22} median {np.median(ours):8.1f} ms  p99 {np.percentile(ours, 99):8.1f} ms"
        f" | baseline median {np.median(baseline):8.1f} ms  p99 "
        f"{np.percentile(baseline, 99):8.1f} ms | ratio {ratio:5.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="transactions per input")
    parser.add_argument("--days", type=int, default=180, help="distinct days for card precision")
    parser.add_argument("--cards", type=int, default=5_000, help="distinct cards")
    parser.add_argument("--repeats", type=int, default=15, help="timed runs per function")
    args = parser.parse_args()

    data = synthetic_transactions(args.rows, args.days, args.cards, seed=7)
    labels, scores = data["labels"], data["scores"]
    cases = [
        ("auc_roc", lambda: auc_roc(labels, scores), lambda: roc_auc_score(labels, scores)),
        (
            "average_precision",
            lambda: average_precision(labels, scores),
            lambda: average_precision_score(labels, scores),
        ),
        (
            "card_precision_at_100",
            lambda: card_precision_at_k(data["days"], data["cards"], labels, scores, k=100).mean,
            lambda: pandas_card_precision(data, k=100),
        ),
    ]

    print(f"{args.rows:,} rows, {args.repeats} timed runs each; ratio = ours / baseline (median)")
    for name, ours, baseline in cases:
        if not np.isclose(ours(), baseline(), rtol=0, atol=1e-12):
            raise SystemExit(f"{name}: result {ours()} differs from baseline {baseline()}")
        report(name, timings_ms(ours, args.repeats), timings_ms(baseline, args.repeats))


if __name__ == "__main__":
    main()
