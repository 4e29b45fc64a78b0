"""The fast serving cluster gives every request the same fate and start as the textbook
SimPy model (one process per request, a FIFO Store of idle replicas), under random
arrivals, service times, scaling and crashes."""

from __future__ import annotations

from dataclasses import dataclass

import simpy
from hypothesis import given, settings
from hypothesis import strategies as st

from twinbank.simulator.regions.cluster import ServingCluster
from twinbank.simulator.regions.reference import SimpyServingCluster


@dataclass(frozen=True)
class Control:
    time: float
    action: str  # "add", "remove" or "crash"
    pick: int  # which replica to crash, as an index into the sorted replica ids


# A short span keeps replicas busy, so queues, timeouts and full queues are common.
times = st.floats(0.0, 3.0, allow_nan=False, exclude_min=True)


@st.composite
def histories(draw: st.DrawFn) -> tuple[int, float, int, list[tuple[float, float]], list[Control]]:
    replicas = draw(st.integers(1, 4))
    timeout = draw(st.one_of(st.floats(0.01, 1.0), st.just(100.0)))
    max_queue = draw(st.integers(1, 50))
    arrivals = sorted(draw(st.lists(times, min_size=1, max_size=200, unique=True)))
    services = draw(
        st.lists(
            st.floats(0.001, 0.5, allow_nan=False),
            min_size=len(arrivals),
            max_size=len(arrivals),
        )
    )
    controls = draw(
        st.lists(
            st.builds(
                Control, times, st.sampled_from(["add", "remove", "crash"]), st.integers(0, 9)
            ),
            max_size=8,
            unique_by=lambda control: control.time,
        )
    )
    # Control instants never coincide with arrivals, so no tie order is involved.
    controls = sorted(
        (control for control in controls if control.time not in arrivals),
        key=lambda control: control.time,
    )
    return replicas, timeout, max_queue, list(zip(arrivals, services, strict=True)), controls


def _run_fast(replicas, timeout, max_queue, requests, controls):  # type: ignore[no-untyped-def]
    cluster = ServingCluster(replicas, timeout, max_queue)
    crashed = []
    events = [(time, 0, index) for index, (time, _) in enumerate(requests)]
    events += [(control.time, 1, index) for index, control in enumerate(controls)]
    for time, kind, index in sorted(events):
        if kind == 0:
            cluster.admit(time, requests[index][1], index)
            continue
        cluster.advance(time)
        control = controls[index]
        if control.action == "add":
            cluster.add_replica(time)
        elif control.action == "remove":
            cluster.remove_replica(time)
        elif cluster.replica_ids():
            ids = cluster.replica_ids()
            record = cluster.crash(time, ids[control.pick % len(ids)])
            if record is not None:
                crashed.append(record)
    cluster.advance(float("inf"))
    starts, records = cluster.take_started()
    return dict(zip(records, starts, strict=True)), sorted(cluster.take_dropped()), sorted(crashed)


def _run_simpy(replicas, timeout, max_queue, requests, controls):  # type: ignore[no-untyped-def]
    env = simpy.Environment()
    cluster = SimpyServingCluster(env, replicas, timeout, max_queue)
    events = [(time, 0, index) for index, (time, _) in enumerate(requests)]
    events += [(control.time, 1, index) for index, control in enumerate(controls)]

    def drive():  # type: ignore[no-untyped-def]
        for time, kind, index in sorted(events):
            yield env.timeout(time - env.now)
            if kind == 0:
                cluster.submit(requests[index][1], index)
                continue
            control = controls[index]
            if control.action == "add":
                cluster.add_replica()
            elif control.action == "remove":
                cluster.remove_replica()
            elif cluster.replica_ids():
                ids = cluster.replica_ids()
                cluster.crash(ids[control.pick % len(ids)])

    env.process(drive())
    env.run()
    starts = dict(zip(cluster.started_records, cluster.started_at, strict=True))
    return starts, sorted(cluster.dropped), sorted(cluster.crashed)


@settings(max_examples=300, deadline=None)
@given(histories())
def test_fast_cluster_matches_simpy_model(history):  # type: ignore[no-untyped-def]
    fast_starts, fast_dropped, fast_crashed = _run_fast(*history)
    simpy_starts, simpy_dropped, simpy_crashed = _run_simpy(*history)
    assert fast_starts.keys() == simpy_starts.keys()
    for record, start in fast_starts.items():
        assert abs(start - simpy_starts[record]) < 1e-9, record
    assert fast_dropped == simpy_dropped
    assert fast_crashed == simpy_crashed
