"""Model inputs: plain columns, ratio columns, and the same matrix one row at a time,
for many rows, or from whole columns."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twinbank.core.features.vector import FeatureVector
from twinbank.core.modeling import DuplicateModelInput, ModelInputs, UnknownModelInput
from twinbank.core.transactions import Transaction

FEATURES = ("usual", "risk")
INPUTS = ModelInputs(("amount", "usual", "amount/usual", "risk/usual", "risk"), FEATURES)


def _transaction(amount: float) -> Transaction:
    return Transaction(
        transaction_id=1,
        timestamp_ns=0,
        customer_id=7,
        terminal_id=3,
        amount=amount,
    )


def test_ratio_columns_keep_name_order() -> None:
    matrix = INPUTS.from_columns(
        {"amount": np.array([30.0]), "usual": np.array([10.0]), "risk": np.array([0.5])}
    )
    np.testing.assert_array_equal(matrix, [[30.0, 10.0, 3.0, 0.05, 0.5]])


def test_ratio_null_for_zero_denominator() -> None:
    matrix = INPUTS.from_columns(
        {
            "amount": np.array([30.0, 30.0, np.nan]),
            "usual": np.array([0.0, np.nan, 10.0]),
            "risk": np.array([0.0, 0.0, 1.0]),
        }
    )
    assert np.isnan(matrix[:, 2]).all()
    assert np.isnan(matrix[:2, 3]).all()
    assert matrix[2, 3] == 0.1


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("amount/unknown", r"invalid model input 'amount/unknown': \['unknown'\] are not found"),
        ("unknown", "'unknown' is neither"),
        ("amount/usual/risk", "invalid model input"),
        ("amount/", r"\[''\] are not found"),
    ],
)
def test_bad_input_names_rejected(name: str, fragment: str) -> None:
    with pytest.raises(UnknownModelInput, match=fragment):
        ModelInputs(("amount", name), FEATURES)


def test_feature_named_with_separator_is_plain() -> None:
    inputs = ModelInputs(("amount", "debt/income", "amount/debt/income"), ("debt/income",))

    matrix = inputs.from_columns({"amount": np.array([6.0]), "debt/income": np.array([2.0])})

    np.testing.assert_array_equal(matrix, [[6.0, 2.0, 3.0]])


def test_ambiguous_ratio_rejected() -> None:
    with pytest.raises(UnknownModelInput, match="in 2 ways"):
        ModelInputs(("a/b/c",), ("a", "b/c", "a/b", "c"))


@pytest.mark.parametrize(
    "names",
    [("amount", "amount"), ("amount/usual", "risk", "amount/usual")],
)
def test_repeated_input_names_rejected(names: tuple[str, ...]) -> None:
    with pytest.raises(DuplicateModelInput, match="more than once"):
        ModelInputs(names, FEATURES)


@pytest.mark.filterwarnings("error")
def test_infinite_ratio_null_quietly() -> None:
    matrix = INPUTS.from_columns(
        {
            "amount": np.array([math.inf, 1e308, 1.0]),
            "usual": np.array([math.inf, 1e-308, -math.inf]),
            "risk": np.array([math.inf, 0.0, 1.0]),
        }
    )

    assert math.isnan(matrix[0, 2])
    assert matrix[1, 2] == math.inf
    assert matrix[2, 2] == 0.0
    assert math.isnan(matrix[0, 3])


values = st.one_of(
    st.just(math.nan),
    st.just(0.0),
    st.just(-0.0),
    st.floats(-1e6, 1e6),
    st.floats(allow_nan=False, allow_infinity=True),
)


@pytest.mark.filterwarnings("error")
@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.floats(0, allow_infinity=True), values, values), min_size=1, max_size=20
    )
)
def test_rows_equal_whole_columns(rows: list) -> None:
    transactions = [_transaction(amount) for amount, _, _ in rows]
    vectors = [FeatureVector(FEATURES, (usual, risk), "test") for _, usual, risk in rows]

    by_row = INPUTS.assemble(transactions, vectors)
    whole = INPUTS.from_columns(
        {
            "amount": np.array([row[0] for row in rows]),
            "usual": np.array([row[1] for row in rows]),
            "risk": np.array([row[2] for row in rows]),
        }
    )

    one_at_a_time = np.vstack(
        [INPUTS.assemble([t], [v]) for t, v in zip(transactions, vectors, strict=True)]
    )
    np.testing.assert_array_equal(by_row, whole)
    np.testing.assert_array_equal(one_at_a_time, whole)
    for line, (amount, usual, risk) in zip(by_row, rows, strict=True):
        expected = amount / usual if not math.isnan(usual) and usual != 0 else math.nan
        np.testing.assert_array_equal(line[2], expected)
        assert line[4] == risk or (math.isnan(line[4]) and math.isnan(risk))
