"""Time the card-transaction generator against a bare numpy baseline.

For each population size, the generator runs a few times and so does the baseline.
The baseline is a numpy loop over days that only draws the Poisson payment counts and
the normal times of day, the least work any simulator of this design has to do. The
ratio of medians is the generator's overhead on top of those draws: profiles, terminal
choice, amounts, sorting, fraud scenarios and building the frame.

Run from the repository root:

    python benchmarks/bench_generator.py [--repetitions 5]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable
from functools import partial

import numpy as np

from twinbank.adapters.generator import GeneratorSettings, generate_transactions

POPULATIONS = {
    "small": GeneratorSettings(customers=500, terminals=1_000),
    "handbook": GeneratorSettings(),
}


def draw_counts_and_times(settings: GeneratorSettings) -> int:
    """Draw the payment counts and times of day of every day, and return how many times."""
    rng = np.random.default_rng(settings.seed)
    rates = rng.uniform(0.0, 4.0, settings.customers)
    drawn = 0
    for _ in range(settings.days):
        counts = rng.poisson(rates)
        times = rng.normal(43_200.0, 20_000.0, int(counts.sum()))
        drawn += len(times)
    return drawn


def time_runs(run: Callable[[], object], repetitions: int) -> np.ndarray:
    seconds = []
    for _ in range(repetitions):
        started = time.perf_counter()
        run()
        seconds.append(time.perf_counter() - started)
    return np.array(seconds)


def format_row(population: str, method: str, rows: int, seconds: np.ndarray) -> str:
    median = float(np.median(seconds))
    p99 = float(np.percentile(seconds, 99))
    throughput = rows / median
    return (
        f"{population:<10} {method:<9} {rows:>10,} {median:>9.3f} {p99:>8.3f} {throughput:>12,.0f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--repetitions", type=int, default=5, help="timed runs per population and method"
    )
    arguments = parser.parse_args()

    print(
        f"python {platform.python_version()}, numpy {np.__version__}, "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs"
    )
    print(
        f"{'population':<10} {'method':<9} {'rows':>10} {'median s':>9} {'p99 s':>8} {'rows/s':>12}"
    )
    for name, settings in POPULATIONS.items():
        # The first run warms caches and gives the row count; it is not timed.
        rows = len(generate_transactions(settings))
        drawn = draw_counts_and_times(settings)
        generator = time_runs(partial(generate_transactions, settings), arguments.repetitions)
        baseline = time_runs(partial(draw_counts_and_times, settings), arguments.repetitions)

        print(format_row(name, "generator", rows, generator))
        print(format_row(name, "baseline", drawn, baseline))
        ratio = np.median(generator) / np.median(baseline)
        print(f"{name:<10} generator / baseline median time: {ratio:.1f}x")


if __name__ == "__main__":
    main()
