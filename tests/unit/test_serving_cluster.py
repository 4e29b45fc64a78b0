"""The regional serving cluster: FIFO queue, replicas, crashes, scaling, deadlines."""

from __future__ import annotations

import math

import pytest

from twinbank.simulator.regions.cluster import Drop, ServingCluster


def _starts(cluster: ServingCluster) -> dict[str, float]:
    starts, records = cluster.take_started()
    return dict(zip(records, starts, strict=True))


def test_single_replica_serves_first_come_first_served():
    cluster = ServingCluster(1, queue_timeout=math.inf, max_queue=100)
    cluster.admit(0.0, 1.0, "a")
    cluster.admit(0.5, 1.0, "b")
    cluster.admit(0.6, 0.5, "c")
    cluster.advance(10.0)
    assert _starts(cluster) == {"a": 0.0, "b": 1.0, "c": 2.0}


def test_idle_replicas_start_requests_on_arrival():
    cluster = ServingCluster(3, queue_timeout=math.inf, max_queue=100)
    for index in range(3):
        cluster.admit(0.1 * index, 5.0, index)
    cluster.admit(0.4, 1.0, "waits")
    cluster.advance(10.0)
    assert _starts(cluster) == {0: 0.0, 1: 0.1, 2: 0.2, "waits": 5.0}


def test_waiting_request_is_not_started_before_advance_reaches_it():
    cluster = ServingCluster(1, queue_timeout=math.inf, max_queue=100)
    cluster.admit(0.0, 1.0, "a")
    cluster.admit(0.2, 1.0, "b")
    cluster.advance(0.9)
    assert _starts(cluster) == {"a": 0.0}
    assert cluster.waiting == 1
    cluster.advance(1.0)
    assert _starts(cluster) == {"b": 1.0}


def test_request_waiting_past_queue_timeout_is_dropped():
    cluster = ServingCluster(1, queue_timeout=0.5, max_queue=100)
    cluster.admit(0.0, 1.0, "a")
    cluster.admit(0.2, 1.0, "late")
    cluster.admit(0.6, 1.0, "in-time")
    cluster.advance(5.0)
    assert _starts(cluster) == {"a": 0.0, "in-time": 1.0}
    assert cluster.take_dropped() == [("late", Drop.QUEUE_TIMEOUT)]


def test_full_queue_rejects_new_requests():
    cluster = ServingCluster(1, queue_timeout=math.inf, max_queue=2)
    for index in range(4):
        cluster.admit(0.01 * index, 1.0, index)
    assert cluster.take_dropped() == [(3, Drop.QUEUE_FULL)]
    assert cluster.waiting == 2


def test_crash_returns_request_in_service_and_reroutes_queue():
    cluster = ServingCluster(2, queue_timeout=math.inf, max_queue=100)
    cluster.admit(0.0, 1.0, "on-0")
    cluster.admit(0.0, 3.0, "on-1")
    cluster.admit(0.1, 1.0, "waiting")
    cluster.advance(0.5)
    assert cluster.crash(0.5, 0) == "on-0"
    assert cluster.replica_ids() == [1]
    cluster.advance(10.0)
    assert _starts(cluster)["waiting"] == 3.0


def test_crash_of_idle_replica_cuts_nothing_short():
    cluster = ServingCluster(2, queue_timeout=math.inf, max_queue=100)
    cluster.admit(0.0, 1.0, "done")
    cluster.advance(2.0)
    assert cluster.crash(2.0, 0) is None
    assert cluster.replicas == 1


def test_crash_of_unknown_replica_raises():
    cluster = ServingCluster(1, queue_timeout=math.inf, max_queue=100)
    with pytest.raises(ValueError, match="replica 7 is not part"):
        cluster.crash(0.0, 7)


def test_added_replica_takes_waiting_request_at_once():
    cluster = ServingCluster(1, queue_timeout=math.inf, max_queue=100)
    cluster.admit(0.0, 10.0, "long")
    cluster.admit(1.0, 1.0, "waiting")
    cluster.advance(2.0)
    replica = cluster.add_replica(2.0)
    assert replica == 1
    assert _starts(cluster) == {"long": 0.0, "waiting": 2.0}


def test_scale_down_drains_the_newest_busy_replica():
    cluster = ServingCluster(2, queue_timeout=math.inf, max_queue=100)
    cluster.admit(0.0, 1.0, "on-0")
    cluster.admit(0.0, 2.0, "on-1")
    cluster.advance(0.5)
    assert cluster.remove_replica(0.5) == 1
    assert cluster.replicas == 1
    cluster.admit(0.6, 1.0, "next")
    cluster.advance(5.0)
    starts = _starts(cluster)
    assert starts["next"] == 1.0  # replica 0 frees first; replica 1 leaves after its request
    assert cluster.replica_ids() == [0]


def test_scale_down_removes_idle_replica_at_once():
    cluster = ServingCluster(3, queue_timeout=math.inf, max_queue=100)
    assert cluster.remove_replica(0.0) == 2
    assert cluster.replica_ids() == [0, 1]
    assert ServingCluster(0, 1.0, 1).remove_replica(0.0) is None


def test_region_failure_cuts_everything_short():
    cluster = ServingCluster(1, queue_timeout=math.inf, max_queue=100)
    cluster.admit(0.0, 1.0, "serving")
    cluster.admit(0.1, 1.0, "waiting")
    cluster.advance(0.5)
    assert cluster.fail_all(0.5) == (["serving"], ["waiting"])
    cluster.admit(2.0, 1.0, "after")
    cluster.advance(5.0)
    assert _starts(cluster) == {"serving": 0.0, "after": 2.0}


def test_busy_seconds_sum_started_service():
    cluster = ServingCluster(2, queue_timeout=math.inf, max_queue=100)
    for index, service in enumerate([0.5, 1.5, 2.0]):
        cluster.admit(0.1 * index, service, index)
    cluster.advance(10.0)
    assert cluster.busy_seconds == pytest.approx(4.0)
