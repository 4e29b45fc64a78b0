import numpy as np
import pydantic
import pytest

from twinbank.core.evaluation import (
    HandbookProtocol,
    InvalidEvaluationInput,
    prequential_test_folds,
    validation_folds,
)

# A small protocol: training on days 10-11, delay days 12-13, test days 14-16.
SMALL = HandbookProtocol(training_start_day=10, training_days=2, delay_days=2, test_days=3)


def split_rows(protocol: HandbookProtocol, rows: list[tuple[int, int, int]]):
    days, cards, labels = (np.array(column) for column in zip(*rows, strict=True))
    return protocol.split(days, cards, labels)


def test_default_protocol_days() -> None:
    protocol = HandbookProtocol()
    assert protocol.training_start_day == 115
    assert protocol.training_end_day == 122
    assert protocol.test_start_day == 129
    assert protocol.test_end_day == 136


def test_training_mask_covers_training_days() -> None:
    rows = [(9, 1, 0), (10, 1, 0), (11, 2, 1), (12, 3, 0)]
    assert split_rows(SMALL, rows).training.tolist() == [False, True, True, False]


def test_training_fraud_removes_card_from_every_test_day() -> None:
    rows = [(11, 1, 1), (14, 1, 0), (15, 1, 0), (16, 1, 1), (14, 2, 0)]
    split = split_rows(SMALL, rows)
    assert split.test.tolist() == [False, False, False, False, True]
    assert split.removed_from_test.tolist() == [False, True, True, True, False]


@pytest.mark.parametrize(
    ("fraud_day", "kept_on_test_days"),
    [
        (10, [False, False, False]),  # training day: known from the first test day
        (12, [True, False, False]),  # first delay day: revealed before test day 15
        (13, [True, True, False]),  # second delay day: revealed before test day 16
        (14, [True, True, True]),  # first test day: revealed on day 17, too late
    ],
)
def test_delay_reveals_one_day_at_a_time(fraud_day: int, kept_on_test_days: list[bool]) -> None:
    rows = [(fraud_day, 1, 1), (14, 1, 0), (15, 1, 0), (16, 1, 0)]
    assert split_rows(SMALL, rows).test[1:].tolist() == kept_on_test_days


def test_fraud_before_training_is_not_known() -> None:
    rows = [(9, 1, 1), (14, 1, 0)]
    assert split_rows(SMALL, rows).test.tolist() == [False, True]


def test_test_fraud_of_unknown_card_stays() -> None:
    rows = [(14, 1, 1), (15, 1, 1)]
    assert split_rows(SMALL, rows).test.tolist() == [True, True]


def test_split_accepts_string_card_ids() -> None:
    days = np.array([11, 14, 14])
    cards = np.array(["a", "a", "b"])
    split = SMALL.split(days, cards, np.array([1, 0, 0]))
    assert split.test.tolist() == [False, False, True]


def test_split_accepts_empty_input() -> None:
    empty = np.array([], dtype=np.int64)
    split = SMALL.split(empty, empty, empty)
    assert len(split.training) == 0
    assert len(split.test) == 0


def test_split_rejects_mismatched_lengths() -> None:
    with pytest.raises(InvalidEvaluationInput, match=r"'card_ids': 1"):
        SMALL.split(np.array([10, 11]), np.array([1]), np.array([0, 1]))


def test_split_rejects_float_days() -> None:
    with pytest.raises(InvalidEvaluationInput, match=r"days must be integer day numbers"):
        SMALL.split(np.array([10.5]), np.array([1]), np.array([0]))


def test_split_rejects_non_binary_labels() -> None:
    with pytest.raises(InvalidEvaluationInput, match=r"found \[3\]"):
        SMALL.split(np.array([10]), np.array([1]), np.array([3]))


def test_shifted_moves_every_period() -> None:
    later = SMALL.shifted(7)
    assert later.training_start_day == 17
    assert later.test_start_day == 21
    assert later.test_days == SMALL.test_days
    assert SMALL.shifted(-7).training_start_day == 3


def test_shifted_rejects_fractional_days() -> None:
    with pytest.raises(pydantic.ValidationError, match="training_start_day"):
        SMALL.shifted(1.5)


def test_protocol_rejects_unknown_field() -> None:
    with pytest.raises(pydantic.ValidationError, match="test_weeks"):
        HandbookProtocol(test_weeks=1)


def test_protocol_rejects_empty_training() -> None:
    with pytest.raises(pydantic.ValidationError, match="training_days"):
        HandbookProtocol(training_days=0)


def test_default_validation_folds() -> None:
    folds = validation_folds(HandbookProtocol(), count=3)
    assert [fold.training_start_day for fold in folds] == [94, 87, 80]
    assert [fold.test_start_day for fold in folds] == [108, 101, 94]
    assert folds[0].test_end_day == 115


def test_validation_folds_with_longer_test() -> None:
    # Test period 10 days rounds up to 2 weeks; span 7 + 7 + 10 = 24 rounds up to 28.
    protocol = HandbookProtocol(test_days=10)
    folds = validation_folds(protocol, count=2)
    assert [fold.training_start_day for fold in folds] == [87, 73]


def test_validation_folds_reject_too_many() -> None:
    with pytest.raises(InvalidEvaluationInput, match=r"day -39, before first_day 0; at most 14"):
        validation_folds(HandbookProtocol(), count=20)


def test_validation_folds_respect_first_day() -> None:
    with pytest.raises(InvalidEvaluationInput, match=r"at most 10 folds fit"):
        validation_folds(HandbookProtocol(), count=11, first_day=30)
    assert len(validation_folds(HandbookProtocol(), count=10, first_day=30)) == 10


@pytest.mark.parametrize("count", [0, -1, 1.5])
def test_validation_folds_reject_bad_count(count) -> None:
    with pytest.raises(
        InvalidEvaluationInput, match=rf"count must be a positive integer, got {count}"
    ):
        validation_folds(HandbookProtocol(), count=count)


def test_prequential_test_folds_start_at_the_protocol() -> None:
    # The handbook's test estimate trains on 2018-07-25, 08-01, 08-08 and 08-15.
    folds = prequential_test_folds(HandbookProtocol(), count=4, last_day=182)
    assert [fold.training_start_day for fold in folds] == [115, 122, 129, 136]
    assert [fold.test_start_day for fold in folds] == [129, 136, 143, 150]


def test_prequential_test_folds_with_longer_test() -> None:
    folds = prequential_test_folds(HandbookProtocol(test_days=10), count=2)
    assert [fold.training_start_day for fold in folds] == [115, 129]


def test_prequential_test_folds_stop_at_last_day() -> None:
    assert len(prequential_test_folds(HandbookProtocol(), count=7, last_day=182)) == 7
    with pytest.raises(
        InvalidEvaluationInput, match=r"until day 184, after last_day 182; at most 7"
    ):
        prequential_test_folds(HandbookProtocol(), count=8, last_day=182)


def test_prequential_test_folds_reject_bad_count() -> None:
    with pytest.raises(InvalidEvaluationInput, match=r"count must be a positive integer, got 0"):
        prequential_test_folds(HandbookProtocol(), count=0)


def test_prequential_test_folds_when_none_fit() -> None:
    with pytest.raises(InvalidEvaluationInput, match=r"no fold fits.*start it earlier"):
        prequential_test_folds(HandbookProtocol(), count=1, last_day=134)
