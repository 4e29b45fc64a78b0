"""Threshold-free fraud-detection metrics: AUC ROC, average precision, card precision@k.

Each one sorts its input, so each costs O(n log n). Labels are 0/1 (1 = fraud) or
booleans; scores are finite numbers where higher means more suspicious.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .inputs import (
    BoolArray,
    FloatArray,
    Int64Array,
    InvalidEvaluationInput,
    binary_labels,
    both_classes,
    card_identifiers,
    finite_scores,
    integer_days,
    positive_count,
    require_equal_lengths,
    require_rows,
)


def auc_roc(labels: npt.ArrayLike, scores: npt.ArrayLike) -> float:
    """Return the area under the ROC curve, equal to scikit-learn's ``roc_auc_score``.

    It is the Mann-Whitney U statistic with tied scores given their average rank, so a
    tie between a fraud and a genuine transaction counts one half. Tested against
    scikit-learn 1.9. Raises InvalidEvaluationInput for mismatched lengths, labels other
    than 0/1, a single class, or NaN or infinite scores.
    """
    fraud, score = _labelled_scores(labels, scores)
    both_classes("labels", fraud, "AUC ROC")

    sorted_fraud, group_starts = _sorted_by_score(fraud, score)
    group_ends = np.append(group_starts[1:], len(score))
    frauds_per_group = np.add.reduceat(sorted_fraud.astype(np.int64), group_starts)

    # Ranks run from 1, and a group of tied scores at positions start..end-1 shares
    # the average rank (start + 1 + end) / 2. Doubling it keeps the sum an exact integer.
    doubled_rank_sum = int(np.dot(frauds_per_group, group_starts + group_ends + 1))
    fraud_count = int(fraud.sum())
    genuine_count = len(fraud) - fraud_count
    doubled_u = doubled_rank_sum - fraud_count * (fraud_count + 1)
    return doubled_u / (2 * fraud_count * genuine_count)


def average_precision(labels: npt.ArrayLike, scores: npt.ArrayLike) -> float:
    """Return average precision, equal to scikit-learn's ``average_precision_score``.

    It is the step-wise sum over distinct score thresholds, from the highest down, of
    (recall gained at the threshold) x (precision at the threshold), with no
    interpolation. Tested against scikit-learn 1.9. Raises InvalidEvaluationInput for
    mismatched lengths, labels other than 0/1, no fraud at all (recall is undefined), or
    NaN or infinite scores.
    """
    fraud, score = _labelled_scores(labels, scores)
    fraud_count = int(fraud.sum())
    if fraud_count == 0:
        raise InvalidEvaluationInput(
            f"labels contain no fraud ({len(fraud)} rows); average precision needs at "
            "least one positive"
        )

    sorted_fraud, group_starts = _sorted_by_score(fraud, score)
    # Walk the groups of tied scores from the highest score down.
    descending_fraud = sorted_fraud[::-1]
    descending_ends = (len(score) - group_starts)[::-1]
    true_positives = np.cumsum(descending_fraud, dtype=np.int64)[descending_ends - 1]
    precision = true_positives / descending_ends
    recall_gain = np.diff(true_positives, prepend=0)
    return float(np.dot(recall_gain, precision) / fraud_count)


@dataclass(frozen=True)
class CardPrecision:
    """Card precision@k over a period, with the figures of each day.

    ``per_day[i]`` is the precision on ``days[i]``; ``found_cards[i]`` contains the
    compromised cards in that day's top k, which are removed from every later day.
    """

    k: int
    mean: float
    days: Int64Array
    per_day: FloatArray
    found_cards: tuple[npt.NDArray[np.generic], ...]


def card_precision_at_k(
    days: npt.ArrayLike,
    card_ids: npt.ArrayLike,
    labels: npt.ArrayLike,
    scores: npt.ArrayLike,
    k: int = 100,
) -> CardPrecision:
    """Compute card precision@k, the daily share of compromised cards among the k riskiest.

    For each day present in ``days``, in increasing order: each card's score is its
    highest transaction score that day, and the card counts as compromised when any of
    its transactions that day is a fraud. Cards found compromised in the top k of an
    earlier day are dropped, because they would have been blocked. The remaining cards
    are ranked by score, highest first, and cards with equal scores in increasing card
    id order (the order of a stable sort after grouping by card). The day's precision is
    the number of compromised cards in the top k divided by k, even on a day with fewer
    than k cards. ``mean`` averages the days with equal weight.

    Raises InvalidEvaluationInput for mismatched lengths, no rows, non-integer days,
    card ids that are neither integers nor strings, labels other than 0/1, NaN or
    infinite scores, or a k that is not a positive integer.
    """
    day, card, fraud, score = _card_transactions(days, card_ids, labels, scores)
    k = positive_count("k", k)
    daily = _daily_cards(day, card, fraud, score)

    found = np.zeros(daily.card_count, dtype=np.bool_)
    per_day = np.empty(len(daily.days), dtype=np.float64)
    found_cards = []
    for index in range(len(daily.days)):
        cards, card_scores, card_fraud = daily.cards_on(index)
        still_open = ~found[cards]
        top_cards, top_fraud = _top_k(
            cards[still_open], card_scores[still_open], card_fraud[still_open], k
        )
        caught = top_cards[top_fraud]
        found[caught] = True
        per_day[index] = len(caught) / k
        found_cards.append(daily.card_values[caught])

    return CardPrecision(
        k=k,
        mean=float(per_day.mean()),
        days=daily.days,
        per_day=per_day,
        found_cards=tuple(found_cards),
    )


def _labelled_scores(labels: npt.ArrayLike, scores: npt.ArrayLike) -> tuple[BoolArray, FloatArray]:
    fraud = binary_labels("labels", labels)
    score = finite_scores("scores", scores)
    require_equal_lengths({"labels": fraud, "scores": score})
    require_rows("labels", fraud)
    return fraud, score


def _sorted_by_score(fraud: BoolArray, score: FloatArray) -> tuple[BoolArray, Int64Array]:
    """Sort labels by increasing score and return them with the start of each tie group."""
    # Order within a tie group does not matter, so the faster unstable sort is enough.
    order = np.argsort(score)
    sorted_score = score[order]
    is_new_value = np.empty(len(score), dtype=np.bool_)
    is_new_value[0] = True
    np.not_equal(sorted_score[1:], sorted_score[:-1], out=is_new_value[1:])
    return fraud[order], np.flatnonzero(is_new_value)


def _card_transactions(
    days: npt.ArrayLike, card_ids: npt.ArrayLike, labels: npt.ArrayLike, scores: npt.ArrayLike
) -> tuple[Int64Array, npt.NDArray[np.generic], BoolArray, FloatArray]:
    day = integer_days("days", days)
    card = card_identifiers("card_ids", card_ids)
    fraud = binary_labels("labels", labels)
    score = finite_scores("scores", scores)
    require_equal_lengths({"days": day, "card_ids": card, "labels": fraud, "scores": score})
    require_rows("days", day)
    return day, card, fraud, score


@dataclass(frozen=True)
class _DailyCards:
    """One row per (day, card): the card's highest score that day and whether it had fraud.

    Rows are sorted by day, then by card; ``card`` contains indices into ``card_values``,
    which is sorted, so index order is card id order.
    """

    days: Int64Array
    day_starts: Int64Array
    card: Int64Array
    score: FloatArray
    fraud: BoolArray
    card_values: npt.NDArray[np.generic]

    @property
    def card_count(self) -> int:
        return len(self.card_values)

    def cards_on(self, index: int) -> tuple[Int64Array, FloatArray, BoolArray]:
        rows = slice(self.day_starts[index], self.day_starts[index + 1])
        return self.card[rows], self.score[rows], self.fraud[rows]


def _daily_cards(
    day: Int64Array, card: npt.NDArray[np.generic], fraud: BoolArray, score: FloatArray
) -> _DailyCards:
    day_values, day_index = np.unique(day, return_inverse=True)
    card_values, card_index = np.unique(card, return_inverse=True)
    day_card_key = day_index.astype(np.int64) * len(card_values) + card_index

    order = np.argsort(day_card_key)
    sorted_key = day_card_key[order]
    group_starts = np.flatnonzero(np.diff(sorted_key, prepend=-1))
    group_key = sorted_key[group_starts]
    group_day = group_key // len(card_values)

    return _DailyCards(
        days=day_values.astype(np.int64),
        day_starts=np.searchsorted(group_day, np.arange(len(day_values) + 1)),
        card=group_key % len(card_values),
        score=np.maximum.reduceat(score[order], group_starts),
        fraud=np.logical_or.reduceat(fraud[order], group_starts),
        card_values=card_values,
    )


def _top_k(
    cards: Int64Array, scores: FloatArray, fraud: BoolArray, k: int
) -> tuple[Int64Array, BoolArray]:
    """Return the k highest-scored cards and their fraud flags; ``cards`` must be sorted.

    The stable sort keeps tied cards in increasing card order.
    """
    top = np.argsort(-scores, kind="stable")[:k]
    return cards[top], fraud[top]
