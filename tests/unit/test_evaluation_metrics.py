import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from twinbank.core.evaluation import (
    InvalidEvaluationInput,
    auc_roc,
    average_precision,
    card_precision_at_k,
)

SEEDS = range(8)


def random_case(seed: int, size: int, distinct_scores: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Labels with both classes; scores drawn from few values when ``distinct_scores`` is set."""
    rng = np.random.default_rng(seed)
    labels = rng.random(size) < 0.2
    labels[:2] = [True, False]
    if distinct_scores is None:
        scores = rng.normal(size=size)
    else:
        scores = rng.integers(0, distinct_scores, size).astype(np.float64) / distinct_scores
    return labels.astype(np.int64), scores


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("distinct_scores", [None, 2, 5, 50])
def test_auc_matches_sklearn(seed: int, distinct_scores: int | None) -> None:
    labels, scores = random_case(seed, 500, distinct_scores)
    assert auc_roc(labels, scores) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("distinct_scores", [None, 2, 5, 50])
def test_average_precision_matches_sklearn(seed: int, distinct_scores: int | None) -> None:
    labels, scores = random_case(seed, 500, distinct_scores)
    expected = average_precision_score(labels, scores)
    assert average_precision(labels, scores) == pytest.approx(expected, abs=1e-12)


def test_auc_hand_computed_with_tie() -> None:
    # Pairs (fraud, genuine): (0.8, 0.2) and (0.8, 0.5) won, (0.5, 0.5) tied = 1/2,
    # (0.5, 0.2) won; the 0.1 fraud loses both: 3.5 of 6.
    labels = [1, 1, 1, 0, 0]
    scores = [0.8, 0.5, 0.1, 0.5, 0.2]
    assert auc_roc(labels, scores) == pytest.approx(3.5 / 6)


def test_auc_all_scores_tied_is_half() -> None:
    assert auc_roc([0, 1, 0, 1, 1], [0.3] * 5) == 0.5


def test_auc_accepts_boolean_labels() -> None:
    assert auc_roc(np.array([False, True, True]), [0.1, 0.9, 0.8]) == 1.0


def test_average_precision_hand_computed() -> None:
    # Thresholds 0.9 (1 fraud of 1: P=1, recall +1/2), 0.5 (tie of a fraud and a genuine
    # transaction: P=2/3, recall +1/2); AP = 1/2 + 1/3.
    labels = [1, 1, 0, 0]
    scores = [0.9, 0.5, 0.5, 0.1]
    assert average_precision(labels, scores) == pytest.approx(0.5 + 1 / 3)


def test_average_precision_all_fraud_is_one() -> None:
    assert average_precision([1, 1, 1], [0.2, 0.1, 0.2]) == 1.0


@pytest.mark.parametrize("metric", [auc_roc, average_precision])
def test_metric_rejects_mismatched_lengths(metric) -> None:
    with pytest.raises(InvalidEvaluationInput, match=r"differ in length.*'labels': 3.*'scores': 2"):
        metric([0, 1, 1], [0.1, 0.2])


@pytest.mark.parametrize("bad", [np.nan, np.inf])
@pytest.mark.parametrize("metric", [auc_roc, average_precision])
def test_metric_rejects_non_finite_scores(metric, bad: float) -> None:
    with pytest.raises(
        InvalidEvaluationInput, match=r"scores contains 1 NaN or infinite.*position 1"
    ):
        metric([0, 1, 1], [0.1, bad, 0.3])


@pytest.mark.parametrize("metric", [auc_roc, average_precision])
def test_metric_rejects_non_binary_labels(metric) -> None:
    with pytest.raises(
        InvalidEvaluationInput, match=r"labels must contain only 0 and 1, found \[2\]"
    ):
        metric([0, 2, 1], [0.1, 0.2, 0.3])


@pytest.mark.parametrize("metric", [auc_roc, average_precision])
def test_metric_rejects_empty_input(metric) -> None:
    with pytest.raises(InvalidEvaluationInput, match=r"labels is empty"):
        metric([], [])


@pytest.mark.parametrize("metric", [auc_roc, average_precision])
def test_metric_rejects_two_dimensional_scores(metric) -> None:
    with pytest.raises(InvalidEvaluationInput, match=r"scores must be a 1-D array.*\(2, 1\)"):
        metric([0, 1], [[0.1], [0.2]])


@pytest.mark.parametrize("single_class", [0, 1])
def test_auc_rejects_single_class(single_class: int) -> None:
    with pytest.raises(InvalidEvaluationInput, match=rf"only class {single_class}.*both classes"):
        auc_roc([single_class] * 4, [0.1, 0.2, 0.3, 0.4])


def test_average_precision_rejects_no_fraud() -> None:
    with pytest.raises(InvalidEvaluationInput, match=r"no fraud.*at least one positive"):
        average_precision([0, 0, 0], [0.1, 0.2, 0.3])


# Card precision@k. Each case lists (day, card, label, score) rows.


def card_rows(rows: list[tuple[int, object, int, float]]) -> tuple[np.ndarray, ...]:
    days, cards, labels, scores = zip(*rows, strict=True)
    return np.array(days), np.array(cards), np.array(labels), np.array(scores)


REMOVAL_CASE = [
    # Day 10: card 1 scores 0.9 with a fraud, card 2 0.8 genuine, card 3 0.7 with a fraud.
    (10, 1, 1, 0.9),
    (10, 1, 0, 0.1),
    (10, 2, 0, 0.8),
    (10, 3, 1, 0.7),
    # Day 11: card 1 (found on day 10) scores highest again.
    (11, 1, 1, 0.95),
    (11, 2, 0, 0.5),
    (11, 3, 1, 0.6),
    (11, 4, 1, 0.4),
]


def test_card_precision_removes_found_cards() -> None:
    # Day 10, top 2 = cards 1 (fraud) and 2: 1/2; card 1 is found. Day 11 without card 1:
    # top 2 = cards 3 (fraud) and 2: 1/2. Keeping card 1 would give 2/2 on day 11.
    result = card_precision_at_k(*card_rows(REMOVAL_CASE), k=2)

    assert result.days.tolist() == [10, 11]
    assert result.per_day.tolist() == [0.5, 0.5]
    assert result.mean == 0.5
    assert [cards.tolist() for cards in result.found_cards] == [[1], [3]]


def test_card_precision_keeps_genuine_top_card() -> None:
    # Card 2 tops day 0 without fraud, so it is not removed and counts on day 1.
    rows = [(0, 2, 0, 0.9), (0, 1, 1, 0.1), (1, 2, 1, 0.9), (1, 1, 0, 0.1)]
    result = card_precision_at_k(*card_rows(rows), k=1)
    assert result.per_day.tolist() == [0.0, 1.0]


def test_card_precision_keeps_fraud_card_outside_top_k() -> None:
    # With k = 1, card 3 (fraud, 3rd on day 10) is not found, so it counts on day 11.
    result = card_precision_at_k(*card_rows(REMOVAL_CASE), k=1)

    assert result.per_day.tolist() == [1.0, 1.0]
    assert [cards.tolist() for cards in result.found_cards] == [[1], [3]]


def test_card_precision_uses_max_score_and_any_fraud() -> None:
    # Card 7's highest score comes from a genuine transaction, its fraud scores low;
    # the card still ranks first at 0.9 and counts as compromised.
    rows = [(0, 7, 0, 0.9), (0, 7, 1, 0.05), (0, 8, 1, 0.5)]
    result = card_precision_at_k(*card_rows(rows), k=1)
    assert result.per_day.tolist() == [1.0]
    assert result.found_cards[0].tolist() == [7]


@pytest.mark.parametrize(("fraud_card", "expected"), [(3, 1.0), (5, 0.0)])
def test_card_precision_ties_by_card_id(fraud_card: int, expected: float) -> None:
    rows = [(0, 5, int(fraud_card == 5), 0.5), (0, 3, int(fraud_card == 3), 0.5)]
    result = card_precision_at_k(*card_rows(rows), k=1)
    assert result.per_day.tolist() == [expected]


def test_card_precision_divides_by_k_on_small_days() -> None:
    result = card_precision_at_k(*card_rows([(0, 1, 1, 0.3), (0, 2, 0, 0.1)]), k=100)
    assert result.per_day.tolist() == [0.01]


def test_card_precision_orders_days() -> None:
    shuffled = [REMOVAL_CASE[index] for index in (6, 0, 4, 3, 7, 1, 5, 2)]
    result = card_precision_at_k(*card_rows(shuffled), k=2)
    assert result.days.tolist() == [10, 11]
    assert [cards.tolist() for cards in result.found_cards] == [[1], [3]]


def test_card_precision_accepts_string_card_ids() -> None:
    rows = [(day, f"card-{card}", label, score) for day, card, label, score in REMOVAL_CASE]
    result = card_precision_at_k(*card_rows(rows), k=2)
    assert result.per_day.tolist() == [0.5, 0.5]
    assert [cards.tolist() for cards in result.found_cards] == [["card-1"], ["card-3"]]


def test_card_precision_mean_weights_days_equally() -> None:
    rows = [(0, 1, 1, 0.9), (1, 2, 0, 0.9), (1, 3, 0, 0.8), (2, 4, 0, 0.9)]
    result = card_precision_at_k(*card_rows(rows), k=1)
    assert result.per_day.tolist() == [1.0, 0.0, 0.0]
    assert result.mean == pytest.approx(1 / 3)


@pytest.mark.parametrize("k", [0, -3, 2.5, True])
def test_card_precision_rejects_bad_k(k) -> None:
    with pytest.raises(InvalidEvaluationInput, match=rf"k must be a positive integer, got {k!r}"):
        card_precision_at_k(*card_rows(REMOVAL_CASE), k=k)


def test_card_precision_rejects_float_days() -> None:
    days, cards, labels, scores = card_rows(REMOVAL_CASE)
    with pytest.raises(InvalidEvaluationInput, match=r"days must be integer day numbers.*float64"):
        card_precision_at_k(days + 0.5, cards, labels, scores)


def test_card_precision_rejects_mismatched_lengths() -> None:
    days, cards, labels, scores = card_rows(REMOVAL_CASE)
    with pytest.raises(InvalidEvaluationInput, match=r"'card_ids': 7"):
        card_precision_at_k(days, cards[:-1], labels, scores)


def test_card_precision_rejects_nan_score() -> None:
    days, cards, labels, scores = card_rows(REMOVAL_CASE)
    scores[3] = np.nan
    with pytest.raises(InvalidEvaluationInput, match=r"scores contains 1 NaN.*position 3"):
        card_precision_at_k(days, cards, labels, scores)


def test_card_precision_rejects_float_card_ids() -> None:
    days, cards, labels, scores = card_rows(REMOVAL_CASE)
    with pytest.raises(InvalidEvaluationInput, match=r"card_ids must be integer or string"):
        card_precision_at_k(days, cards.astype(np.float64), labels, scores)


def test_card_precision_rejects_empty_input() -> None:
    empty = np.array([], dtype=np.int64)
    with pytest.raises(InvalidEvaluationInput, match=r"days is empty"):
        card_precision_at_k(empty, empty, empty, empty.astype(np.float64))
