import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from sklearn.metrics import average_precision_score, roc_auc_score

from twinbank.core.evaluation import (
    HandbookProtocol,
    auc_roc,
    average_precision,
    card_precision_at_k,
    validation_folds,
)

# Scores drawn from a handful of values, so most examples contain ties.
tied_scores = st.sampled_from([-1.5, 0.0, 0.25, 0.25000000000000006, 0.5, 1.0, 3.0])
any_scores = st.one_of(tied_scores, st.floats(-1e6, 1e6, allow_nan=False))


@st.composite
def labelled_scores(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    size = draw(st.integers(1, 60))
    labels = draw(st.lists(st.integers(0, 1), min_size=size, max_size=size))
    scores = draw(st.lists(any_scores, min_size=size, max_size=size))
    return np.array(labels), np.array(scores, dtype=np.float64)


@given(labelled_scores())
def test_auc_equals_sklearn(case: tuple[np.ndarray, np.ndarray]) -> None:
    labels, scores = case
    assume(0 < labels.sum() < len(labels))
    assert auc_roc(labels, scores) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)


@given(labelled_scores())
def test_average_precision_equals_sklearn(case: tuple[np.ndarray, np.ndarray]) -> None:
    labels, scores = case
    assume(labels.sum() > 0)
    expected = average_precision_score(labels, scores)
    assert average_precision(labels, scores) == pytest.approx(expected, abs=1e-12)


@given(labelled_scores())
def test_auc_of_reversed_scores(case: tuple[np.ndarray, np.ndarray]) -> None:
    labels, scores = case
    assume(0 < labels.sum() < len(labels))
    assert auc_roc(labels, -scores) == pytest.approx(1 - auc_roc(labels, scores), abs=1e-12)


@st.composite
def card_days(draw: st.DrawFn) -> tuple[np.ndarray, ...]:
    size = draw(st.integers(1, 80))
    days = draw(st.lists(st.integers(0, 4), min_size=size, max_size=size))
    cards = draw(st.lists(st.integers(0, 12), min_size=size, max_size=size))
    labels = draw(st.lists(st.integers(0, 1), min_size=size, max_size=size))
    scores = draw(st.lists(tied_scores, min_size=size, max_size=size))
    return np.array(days), np.array(cards), np.array(labels), np.array(scores)


def reference_card_precision(days, cards, labels, scores, k):
    """Follow the definition day by day with dictionaries; ties go to the smaller card id."""
    found: set[int] = set()
    per_day = []
    for day in sorted(set(days.tolist())):
        best_score: dict[int, float] = {}
        had_fraud: dict[int, bool] = {}
        for row in np.flatnonzero(days == day):
            card = int(cards[row])
            if card in found:
                continue
            best_score[card] = max(best_score.get(card, -np.inf), float(scores[row]))
            had_fraud[card] = had_fraud.get(card, False) or bool(labels[row])
        ranked = sorted(best_score, key=lambda card: (-best_score[card], card))
        caught = [card for card in ranked[:k] if had_fraud[card]]
        found.update(caught)
        per_day.append(len(caught) / k)
    return per_day


@given(card_days(), st.integers(1, 6))
def test_card_precision_matches_reference(case: tuple[np.ndarray, ...], k: int) -> None:
    result = card_precision_at_k(*case, k=k)
    expected = reference_card_precision(*case, k=k)
    assert result.per_day.tolist() == pytest.approx(expected)
    assert result.mean == pytest.approx(np.mean(expected))


@given(card_days(), st.integers(1, 6))
def test_card_precision_within_unit_interval(case: tuple[np.ndarray, ...], k: int) -> None:
    result = card_precision_at_k(*case, k=k)
    assert 0.0 <= result.mean <= 1.0
    assert np.all((result.per_day >= 0.0) & (result.per_day <= 1.0))


@given(card_days(), st.integers(1, 6))
def test_found_card_never_counts_again(case: tuple[np.ndarray, ...], k: int) -> None:
    days, cards, labels, scores = case
    result = card_precision_at_k(days, cards, labels, scores, k=k)

    seen: set[int] = set()
    for index, caught in enumerate(result.found_cards):
        caught_set = set(caught.tolist())
        assert not caught_set & seen
        assert result.per_day[index] == len(caught_set) / k
        seen |= caught_set

    # Making an already found card the top fraud of every later day changes nothing.
    for index, caught in enumerate(result.found_cards[:-1]):
        for card in caught.tolist():
            later = days > result.days[index]
            boosted = scores.copy()
            boosted[later & (cards == card)] = 1e9
            boosted_labels = labels.copy()
            boosted_labels[later & (cards == card)] = 1
            again = card_precision_at_k(days, cards, boosted_labels, boosted, k=k)
            assert again.per_day.tolist() == result.per_day.tolist()


@st.composite
def transaction_history(draw: st.DrawFn) -> tuple[np.ndarray, ...]:
    size = draw(st.integers(0, 150))
    days = draw(st.lists(st.integers(0, 40), min_size=size, max_size=size))
    cards = draw(st.lists(st.integers(0, 15), min_size=size, max_size=size))
    labels = draw(st.lists(st.integers(0, 1), min_size=size, max_size=size))
    return np.array(days, dtype=np.int64), np.array(cards, dtype=np.int64), np.array(labels)


protocols = st.builds(
    HandbookProtocol,
    training_start_day=st.integers(-3, 30),
    training_days=st.integers(1, 8),
    delay_days=st.integers(0, 8),
    test_days=st.integers(1, 8),
)


def reference_split(protocol: HandbookProtocol, days, cards, labels):
    """Follow the handbook's steps: training frauds, then one revealed day per test day."""
    start = protocol.training_start_day
    training = (days >= start) & (days < start + protocol.training_days)
    known = set(cards[training & (labels == 1)].tolist())
    test = np.zeros(len(days), dtype=bool)
    for i in range(protocol.test_days):
        revealed_day = start + protocol.training_days + i - 1
        known |= set(cards[(days == revealed_day) & (labels == 1)].tolist())
        test_day = start + protocol.training_days + protocol.delay_days + i
        for row in np.flatnonzero(days == test_day):
            test[row] = int(cards[row]) not in known
    return training, test


@settings(max_examples=200)
@given(protocols, transaction_history())
def test_protocol_matches_handbook_steps(protocol: HandbookProtocol, case) -> None:
    days, cards, labels = case
    split = protocol.split(days, cards, labels)
    expected_training, expected_test = reference_split(protocol, days, cards, labels)

    assert split.training.tolist() == expected_training.tolist()
    assert split.test.tolist() == expected_test.tolist()
    test_period = (days >= protocol.test_start_day) & (days < protocol.test_end_day)
    assert (split.test | split.removed_from_test).tolist() == test_period.tolist()
    assert not np.any(split.test & split.removed_from_test)


@given(protocols, st.integers(1, 5))
def test_validation_folds_end_before_training(protocol: HandbookProtocol, count: int) -> None:
    shifted = protocol.shifted(200)
    folds = validation_folds(shifted, count, first_day=-1000)

    assert len(folds) == count
    assert folds[0].test_end_day <= shifted.training_start_day
    for earlier, later in zip(folds[1:], folds[:-1], strict=True):
        assert earlier.test_end_day <= later.test_start_day
        assert (shifted.training_start_day - earlier.training_start_day) % 7 == 0
