"""The handbook protocol and card precision@100 on the handbook's transactions.

The expected counts are the handbook's published training and test set sizes for
training from day 115 (2018-07-25).
"""

import numpy as np
import pandas as pd
import pytest

from tests.support.data import real_data_file
from twinbank.core.evaluation import HandbookProtocol, card_precision_at_k, validation_folds

pytestmark = pytest.mark.realdata

COLUMNS = ["TRANSACTION_ID", "TX_TIME_DAYS", "CUSTOMER_ID", "TX_AMOUNT", "TX_FRAUD"]


@pytest.fixture(scope="module")
def transactions() -> pd.DataFrame:
    return pd.read_parquet(real_data_file("handbook", "transactions.parquet"), columns=COLUMNS)


def split_of(protocol: HandbookProtocol, frame: pd.DataFrame):
    return protocol.split(
        frame["TX_TIME_DAYS"].to_numpy(),
        frame["CUSTOMER_ID"].to_numpy(),
        frame["TX_FRAUD"].to_numpy(),
    )


def test_training_set_counts(transactions: pd.DataFrame) -> None:
    training = transactions[split_of(HandbookProtocol(), transactions).training]
    assert len(training) == 67_240
    assert training["TX_FRAUD"].sum() == 598


def test_test_set_counts(transactions: pd.DataFrame) -> None:
    test = transactions[split_of(HandbookProtocol(), transactions).test]
    assert len(test) == 58_264
    assert test["TX_FRAUD"].sum() == 385


def test_test_set_matches_pandas_steps(transactions: pd.DataFrame) -> None:
    start = 115
    by_day = transactions.groupby("TX_TIME_DAYS")
    known = set(
        transactions.loc[
            transactions["TX_TIME_DAYS"].between(start, start + 6)
            & (transactions["TX_FRAUD"] == 1),
            "CUSTOMER_ID",
        ]
    )
    expected_ids = []
    for i in range(7):
        revealed = by_day.get_group(start + 7 + i - 1)
        known |= set(revealed.loc[revealed["TX_FRAUD"] == 1, "CUSTOMER_ID"])
        test_day = by_day.get_group(start + 14 + i)
        expected_ids.extend(test_day.loc[~test_day["CUSTOMER_ID"].isin(known), "TRANSACTION_ID"])

    test = transactions[split_of(HandbookProtocol(), transactions).test]
    assert sorted(test["TRANSACTION_ID"]) == sorted(expected_ids)


def pandas_card_precision(frame: pd.DataFrame, score: str, k: int) -> list[float]:
    """Card precision@k written directly in pandas; ties go to the smaller card id."""
    found: set[int] = set()
    per_day = []
    for _, day in sorted(frame.groupby("TX_TIME_DAYS"), key=lambda item: item[0]):
        open_cards = day[~day["CUSTOMER_ID"].isin(found)]
        per_card = open_cards.groupby("CUSTOMER_ID", as_index=False).agg(
            score=(score, "max"), fraud=("TX_FRAUD", "max")
        )
        top = per_card.sort_values(
            ["score", "CUSTOMER_ID"], ascending=[False, True], kind="mergesort"
        ).head(k)
        caught = top.loc[top["fraud"] == 1, "CUSTOMER_ID"]
        found.update(caught)
        per_day.append(len(caught) / k)
    return per_day


def test_card_precision_matches_pandas_on_amount(transactions: pd.DataFrame) -> None:
    test = transactions[split_of(HandbookProtocol(), transactions).test]
    result = card_precision_at_k(
        test["TX_TIME_DAYS"].to_numpy(),
        test["CUSTOMER_ID"].to_numpy(),
        test["TX_FRAUD"].to_numpy(),
        test["TX_AMOUNT"].to_numpy(),
        k=100,
    )
    expected = pandas_card_precision(test, "TX_AMOUNT", k=100)

    assert result.days.tolist() == list(range(129, 136))
    assert result.per_day.tolist() == pytest.approx(expected)
    assert result.mean == pytest.approx(np.mean(expected))


def test_card_precision_removal_changes_figure(transactions: pd.DataFrame) -> None:
    # Giving each day its own card ids turns the removal off. On this data the amount
    # score then rises from 0.067 to 0.084: found cards keep large amounts for days.
    test = transactions[split_of(HandbookProtocol(), transactions).test]
    days = test["TX_TIME_DAYS"].to_numpy()
    cards = test["CUSTOMER_ID"].to_numpy()
    labels = test["TX_FRAUD"].to_numpy()
    amounts = test["TX_AMOUNT"].to_numpy()

    with_removal = card_precision_at_k(days, cards, labels, amounts)
    without_removal = card_precision_at_k(days, cards * 1_000 + days, labels, amounts)

    assert with_removal.mean == pytest.approx(47 / 700)
    assert without_removal.mean == pytest.approx(59 / 700)


def test_validation_folds_precede_training_week(transactions: pd.DataFrame) -> None:
    protocol = HandbookProtocol()
    for fold in validation_folds(protocol, count=4):
        split = split_of(fold, transactions)
        test_days = transactions.loc[split.test, "TX_TIME_DAYS"]
        assert test_days.max() < protocol.training_start_day
        assert split.training.sum() > 0
        assert transactions.loc[split.test, "TX_FRAUD"].sum() > 0
