"""The decision log's feature-value text is the JSON of the values, with null for NaN."""

from __future__ import annotations

import json
import math

from hypothesis import given
from hypothesis import strategies as st

from twinbank.adapters.sql.decision_log import _encode_values


@given(st.lists(st.floats(allow_infinity=False), max_size=16).map(tuple))
def test_feature_values_encode_nan_as_null(values: tuple[float, ...]):
    expected = json.dumps([None if math.isnan(value) else value for value in values])
    assert _encode_values(values) == expected
