"""The fraud handbook's train/test protocol, with its label delay, and its folds.

Days are whole day numbers, as in the handbook's ``TX_TIME_DAYS`` (0 = the first day of
the data). With the defaults the protocol trains on days 115-121 and tests on days
129-135, after a 7-day gap in which fraud labels are not yet known.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from .inputs import (
    BoolArray,
    Int64Array,
    InvalidEvaluationInput,
    binary_labels,
    card_identifiers,
    integer_days,
    positive_count,
    require_equal_lengths,
)

DAYS_PER_WEEK = 7


@dataclass(frozen=True)
class ProtocolSplit:
    """Boolean masks over the transactions handed to ``HandbookProtocol.split``.

    ``removed_from_test`` marks the test-period transactions whose card was already
    known to be compromised on that day. Those rows are in neither ``training`` nor
    ``test``.
    """

    training: BoolArray
    test: BoolArray
    removed_from_test: BoolArray


class HandbookProtocol(BaseModel):
    """A training period, a delay in which labels are still unknown, then a test period.

    The test period keeps only cards not yet known to be compromised. On test day t a
    card is known when it had a fraud on some day from ``training_start_day`` to
    ``t - delay_days - 1``: the training frauds, then each later day's frauds once the
    delay has revealed them.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    training_start_day: int = 115
    training_days: int = Field(default=7, ge=1)
    delay_days: int = Field(default=7, ge=0)
    test_days: int = Field(default=7, ge=1)

    @property
    def training_end_day(self) -> int:
        """First day after the training period."""
        return self.training_start_day + self.training_days

    @property
    def test_start_day(self) -> int:
        return self.training_end_day + self.delay_days

    @property
    def test_end_day(self) -> int:
        """First day after the test period."""
        return self.test_start_day + self.test_days

    def shifted(self, days: int) -> HandbookProtocol:
        """Return the same protocol moved by ``days`` (negative = earlier)."""
        # model_copy would skip validation, so a non-integer shift would pass unnoticed.
        moved = self.model_dump() | {"training_start_day": self.training_start_day + days}
        return HandbookProtocol.model_validate(moved)

    def split(
        self, days: npt.ArrayLike, card_ids: npt.ArrayLike, labels: npt.ArrayLike
    ) -> ProtocolSplit:
        """Select the training and test transactions, one value per transaction in each array.

        Raises InvalidEvaluationInput for mismatched lengths, non-integer days, card ids
        that are neither integers nor strings, or labels other than 0/1.
        """
        day = integer_days("days", days)
        card = card_identifiers("card_ids", card_ids)
        fraud = binary_labels("labels", labels)
        require_equal_lengths({"days": day, "card_ids": card, "labels": fraud})

        training = (day >= self.training_start_day) & (day < self.training_end_day)
        test_period = (day >= self.test_start_day) & (day < self.test_end_day)
        removed = test_period & self._known_compromised(day, card, fraud)
        return ProtocolSplit(
            training=training, test=test_period & ~removed, removed_from_test=removed
        )

    def _known_compromised(
        self, day: Int64Array, card: npt.NDArray[np.generic], fraud: BoolArray
    ) -> BoolArray:
        """Mark the transactions whose card was known compromised on their own day."""
        last_revealed_day = self.test_end_day - 1 - self.delay_days - 1
        revealing = fraud & (day >= self.training_start_day) & (day <= last_revealed_day)
        compromised, first_fraud_day = _first_day_per_card(card[revealing], day[revealing])

        known = np.zeros(len(day), dtype=np.bool_)
        if len(compromised) == 0:
            return known
        position = np.searchsorted(compromised, card).clip(max=len(compromised) - 1)
        has_fraud = compromised[position] == card
        known_from_day = first_fraud_day[position] + self.delay_days + 1
        known[has_fraud] = known_from_day[has_fraud] <= day[has_fraud]
        return known


def validation_folds(
    protocol: HandbookProtocol, count: int, first_day: int = 0
) -> tuple[HandbookProtocol, ...]:
    """Return ``count`` copies of ``protocol`` moved back in whole weeks, nearest first.

    Rule: fold j (from 1) is ``protocol.shifted(-(s + (j - 1) * w))``. Here w is
    ``test_days`` rounded up to whole weeks, so folds keep the weekdays of the protocol
    and their test periods do not overlap. s is the smallest multiple of w that ends the
    fold's test period no later than the day before ``protocol.training_start_day``, so no
    fold uses a day that the protocol trains or tests on. With the defaults s = 21 and
    w = 7: fold 1 trains on days 94-100 and tests on 108-114, fold 2 is a week earlier.

    Raises InvalidEvaluationInput when ``count`` is not a positive integer or a fold
    would start training before ``first_day`` (the first day of data, or a later day
    when features need a history).
    """
    count = positive_count("count", count)
    step = DAYS_PER_WEEK * math.ceil(protocol.test_days / DAYS_PER_WEEK)
    span = protocol.test_end_day - protocol.training_start_day
    first_shift = step * math.ceil(span / step)

    folds = tuple(protocol.shifted(-(first_shift + j * step)) for j in range(count))
    earliest = folds[-1].training_start_day
    if earliest < first_day:
        available = max(0, (protocol.training_start_day - first_shift - first_day) // step + 1)
        raise InvalidEvaluationInput(
            f"{count} validation folds would start training on day {earliest}, before "
            f"first_day {first_day}; at most {available} folds fit"
        )
    return folds


def prequential_test_folds(
    protocol: HandbookProtocol, count: int, last_day: int | None = None
) -> tuple[HandbookProtocol, ...]:
    """Return ``protocol`` and ``count - 1`` copies moved later in whole weeks, earliest first.

    The handbook's model selection chapter reports a test figure as the mean over such
    prequential folds. Fold j (from 0) is ``protocol.shifted(j * w)``, with w as in
    ``validation_folds``. Settings are chosen on ``validation_folds`` first, and these
    folds only score them.

    Raises InvalidEvaluationInput when ``count`` is not a positive integer or a fold's
    test period would end after ``last_day`` (the last day of data).
    """
    count = positive_count("count", count)
    step = DAYS_PER_WEEK * math.ceil(protocol.test_days / DAYS_PER_WEEK)
    # Checked before the folds are built, so a huge count fails at once.
    first_test_end = protocol.test_end_day - 1
    latest = first_test_end + (count - 1) * step
    if last_day is not None and latest > last_day:
        available = max(0, (last_day - first_test_end) // step + 1)
        remedy = (
            f"at most {available} folds fit"
            if available
            else f"no fold fits, because the protocol itself tests until day "
            f"{first_test_end}; start it earlier or pass a later last_day"
        )
        raise InvalidEvaluationInput(
            f"{count} test folds would test until day {latest}, after last_day {last_day}; {remedy}"
        )
    return tuple(protocol.shifted(j * step) for j in range(count))


def _first_day_per_card(
    card: npt.NDArray[np.generic], day: Int64Array
) -> tuple[npt.NDArray[np.generic], Int64Array]:
    """Return the sorted distinct cards and, for each, the earliest of its days."""
    by_day = np.argsort(day, kind="stable")
    cards, first_position = np.unique(card[by_day], return_index=True)
    return cards, day[by_day][first_position]
