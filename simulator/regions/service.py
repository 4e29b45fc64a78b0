"""Service times of one replica: measured on the real core, or from a named distribution."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from .specs import (
    CalibratedServiceTime,
    ConstantServiceTime,
    ExponentialServiceTime,
    LognormalServiceTime,
    ServiceTimeSpec,
)

# Standard normal quantile of 0.99, to turn a lognormal's p99 into its sigma.
Z_99 = 2.3263478740408408


class ServiceTimes:
    """Draws in-process decision times in seconds.

    ``calibrated`` resamples measured times (a bootstrap of the empirical
    distribution), so the twin's replicas are exactly as fast as the core measured on
    this machine, tail included.
    """

    def __init__(
        self,
        spec: ServiceTimeSpec,
        rng: np.random.Generator,
        measured_seconds: npt.NDArray[np.float64] | None = None,
    ) -> None:
        if isinstance(spec, CalibratedServiceTime) and (
            measured_seconds is None or len(measured_seconds) == 0
        ):
            raise ValueError("calibrated service times need measured decision times")
        self._spec = spec
        self._rng = rng
        self._measured = (
            None if measured_seconds is None else np.asarray(measured_seconds, dtype=np.float64)
        )

    def draw(self, count: int) -> npt.NDArray[np.float64]:
        spec = self._spec
        rng = self._rng
        if isinstance(spec, CalibratedServiceTime):
            assert self._measured is not None
            return self._measured[rng.integers(0, len(self._measured), count)] * spec.scale
        if isinstance(spec, ExponentialServiceTime):
            return rng.exponential(spec.mean_ms / 1e3, count)
        if isinstance(spec, LognormalServiceTime):
            sigma = math.log(spec.p99_ms / spec.median_ms) / Z_99
            return rng.lognormal(math.log(spec.median_ms / 1e3), sigma, count)
        assert isinstance(spec, ConstantServiceTime)
        return np.full(count, spec.ms / 1e3)

    @property
    def mean_seconds(self) -> float:
        spec = self._spec
        if isinstance(spec, CalibratedServiceTime):
            assert self._measured is not None
            return float(self._measured.mean()) * spec.scale
        if isinstance(spec, ExponentialServiceTime):
            return spec.mean_ms / 1e3
        if isinstance(spec, LognormalServiceTime):
            sigma = math.log(spec.p99_ms / spec.median_ms) / Z_99
            return spec.median_ms / 1e3 * math.exp(sigma**2 / 2)
        assert isinstance(spec, ConstantServiceTime)
        return spec.ms / 1e3

    def describe(self) -> dict[str, Any]:
        """Return the distribution's kind and its mean and percentiles in ms."""
        described: dict[str, Any] = self._spec.model_dump()
        sample = (
            self._measured * self._spec.scale
            if isinstance(self._spec, CalibratedServiceTime) and self._measured is not None
            else self.draw_preview()
        )
        p50, p95, p99 = np.percentile(sample, [50, 95, 99]) * 1e3
        described.update(
            mean_ms=round(self.mean_seconds * 1e3, 4),
            p50_ms=round(float(p50), 4),
            p95_ms=round(float(p95), 4),
            p99_ms=round(float(p99), 4),
        )
        return described

    def draw_preview(self, count: int = 100_000) -> npt.NDArray[np.float64]:
        """Draw from a separate generator, leaving the run's draws untouched."""
        preview = ServiceTimes(self._spec, np.random.default_rng(0), self._measured)
        return preview.draw(count)
