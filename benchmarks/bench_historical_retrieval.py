"""Time point-in-time retrieval against a bare pandas ``merge_asof`` of the same query.

Both sides get the same synthetic history: the shape's history rows over its keys
(``--shape``, scaled by ``--scale``), float feature columns, event times spread over
60 days and a created time up to an hour after each event. They also get the same
entity rows, with timestamps in the same 60 days and a ttl of 7 days. Each side runs
``--repeats`` times, the four calls taking turns so that load from other work falls
on each alike. The figures are the median and the maximum wall time, and the peak
memory that tracemalloc attributes to one more call (numpy and pandas report their
buffers to it), measured apart so that tracing does not slow the timed runs.

* ``twinbank``: ``point_in_time_join`` with full semantics: ttl, created-time
  tie-break, one row per entity row in input order, nulls kept.
* ``merge_asof``: sort the history frame and the entity rows by time, then
  ``pd.merge_asof(by=key, tolerance=ttl, direction="backward")``; no tie-break and
  rows come back in time order, so it does less than the twinbank join.
* ``merge_asof_presorted``: the same with the history frame sorted before timing
  starts, the most favourable case for the baseline.
* ``twinbank_presorted``: the join on the same history sorted by (event time, created
  time) before timing starts, compared with ``merge_asof_presorted``.

Run from the repository root:

    python benchmarks/bench_historical_retrieval.py --shape S
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import statistics
import time
import tracemalloc
from collections.abc import Callable

import numpy as np
import pandas as pd
from retrieval_data import TTL, draw, scaled_shape

from twinbank.core.features.historical import EntityRows, FeatureHistoryTable, point_in_time_join


def build(history_rows: int, keys: int, entity_rows: int, columns: int, seed: int):
    data = draw(history_rows, keys, entity_rows, columns, seed)
    names = tuple(f"f{index}" for index in range(columns))
    history = FeatureHistoryTable(
        "customer", data.history_keys, data.event_ns, data.created_ns, names, data.values
    )
    return history, EntityRows(data.row_keys, data.row_times_ns)


def twinbank_join(history: FeatureHistoryTable, rows: EntityRows) -> Callable[[], object]:
    ttls = [TTL] * len(history.names)
    return lambda: point_in_time_join(history, rows, history.names, ttls)


def sorted_history(history: FeatureHistoryTable) -> FeatureHistoryTable:
    """Return the history in (event time, created time) order, as a time-ordered store
    returns it; the copy is made before timing starts."""
    order = np.lexsort((history.created_ns, history.event_time_ns))
    return FeatureHistoryTable(
        history.entity,
        history.keys[order],
        history.event_time_ns[order],
        history.created_ns[order],
        history.names,
        history.values[order],
    )


def merge_asof_join(
    history: FeatureHistoryTable, rows: EntityRows, *, presorted: bool
) -> Callable[[], object]:
    """Return a call doing a bare ``merge_asof``.

    With ``presorted`` the history frame is sorted by time before timing starts, as if
    the store kept it that way.
    """
    right = pd.DataFrame(history.values, columns=list(history.names), copy=False)
    right.insert(0, "key", history.keys)
    right.insert(1, "time", history.event_time_ns)
    if presorted:
        right = right.sort_values("time", kind="stable", ignore_index=True)
    left = pd.DataFrame({"key": rows.keys, "time": rows.timestamps_ns})

    def run() -> object:
        ordered_right = right if presorted else right.sort_values("time", kind="stable")
        ordered_left = left.sort_values("time", kind="stable")
        return pd.merge_asof(
            ordered_left, ordered_right, on="time", by="key", tolerance=TTL, direction="backward"
        )

    return run


def measure(calls: dict[str, Callable[[], object]], repeats: int) -> dict[str, dict[str, float]]:
    """Time every call ``repeats`` times, taking turns, so that a change in the
    machine's load during the run reaches every side alike. Then trace one more call
    of each for its peak memory."""
    seconds: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            gc.collect()
            start = time.perf_counter()
            result = call()
            seconds[name].append(time.perf_counter() - start)
            del result
    figures = {}
    for name, call in calls.items():
        gc.collect()
        tracemalloc.start()
        result = call()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        del result
        figures[name] = {
            "median_s": statistics.median(seconds[name]),
            "max_s": max(seconds[name]),
            "peak_gib": peak / 2**30,
        }
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", choices=["L", "S"], default="S")
    parser.add_argument(
        "--scale", type=float, default=1.0, help="multiply the shape's row counts by this"
    )
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per side")
    parser.add_argument("--seed", type=int, default=7)
    arguments = parser.parse_args()

    shape = scaled_shape(arguments.shape, arguments.scale)
    history, rows = build(**shape, seed=arguments.seed)

    ordered = sorted_history(history)
    results = measure(
        {
            "twinbank": twinbank_join(history, rows),
            "merge_asof": merge_asof_join(history, rows, presorted=False),
            "twinbank_presorted": twinbank_join(ordered, rows),
            "merge_asof_presorted": merge_asof_join(history, rows, presorted=True),
        },
        arguments.repeats,
    )
    ratio = {
        f"{ours} / {baseline}": {
            "time": results[ours]["median_s"] / results[baseline]["median_s"],
            "memory": results[ours]["peak_gib"] / results[baseline]["peak_gib"],
        }
        for ours, baseline in (
            ("twinbank", "merge_asof"),
            ("twinbank_presorted", "merge_asof_presorted"),
        )
    }
    report = {
        "shape": arguments.shape,
        "scale": arguments.scale,
        **shape,
        "machine": f"{platform.processor() or platform.machine()}, {platform.python_version()}",
        "results": results,
        "ratio_to_merge_asof": ratio,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
