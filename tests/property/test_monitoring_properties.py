"""Properties of the population stability index."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from twinbank.core.monitoring import DriftSettings, population_stability_index

samples = st.lists(
    st.floats(-1e6, 1e6, allow_nan=False) | st.just(float("nan")), min_size=1, max_size=200
).map(lambda values: np.array(values, dtype=float))


@given(samples, samples, st.integers(2, 20))
def test_psi_is_non_negative_and_shares_sum_to_one(reference, current, bins):  # type: ignore[no-untyped-def]
    result = population_stability_index(reference, current, DriftSettings(bins=bins))
    assert result.psi >= 0.0
    assert (
        sum(result.reference_shares) == np.float64(1.0)
        or abs(sum(result.reference_shares) - 1) < 1e-9
    )
    assert abs(sum(result.current_shares) - 1) < 1e-9
    assert len(result.edges) <= bins - 1
    assert result.edges == sorted(result.edges)


@given(samples)
def test_psi_of_a_sample_against_itself_is_zero(sample):  # type: ignore[no-untyped-def]
    assert population_stability_index(sample, sample).psi == 0.0


@given(samples, st.integers(1, 5))
def test_psi_ignores_repetition(sample, times):  # type: ignore[no-untyped-def]
    assert population_stability_index(sample, np.tile(sample, times)).psi < 1e-12
