"""Where the decision batcher waits for the journal: on its loop or in a worker thread."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest

from twinbank.entrypoints.http.decider import Batched, DecisionBatcher, FeatureLookup
from twinbank.entrypoints.http.metrics import ServiceMetrics


class _Features:
    def lookup(self, transactions):
        return [
            FeatureLookup(vector=None, degraded=(), lookup_ns=0, compute_ns=0) for _ in transactions
        ]


class _Service:
    def decide_assessed(self, assessments):
        return [
            SimpleNamespace(transaction=SimpleNamespace(transaction_id=assessment.transaction))
            for assessment in assessments
        ]


@dataclass
class _Journal:
    """A sync that takes ``seconds`` and notes the thread it ran on.

    ``durations``, while not empty, gives the time of the next syncs instead, and
    ``thread_seconds`` adds time to syncs that run off the loop thread.
    """

    seconds: float = 0.0
    fail: bool = False
    durations: list[float] = field(default_factory=list)
    thread_seconds: float = 0.0
    loop_thread: int | None = None
    threads: list[int] = field(default_factory=list)

    def sync(self) -> None:
        thread = threading.get_ident()
        self.threads.append(thread)
        seconds = self.durations.pop(0) if self.durations else self.seconds
        if thread != self.loop_thread:
            seconds += self.thread_seconds
        time.sleep(seconds)
        if self.fail:
            raise OSError("disk full")


class _Stopwatch:
    def ticks_ns(self) -> int:
        return time.perf_counter_ns()


def _batcher(journal: _Journal, inline_below_s: float) -> DecisionBatcher:
    return DecisionBatcher(
        _Features(), _Service(), journal.sync, 64, ServiceMetrics(), _Stopwatch(), inline_below_s
    )


async def _decide_batches(batcher: DecisionBatcher, batches: int) -> list[Batched]:
    """Decide ``batches`` batches of two requests, one batch after the other."""
    answers = []
    for number in range(batches):
        answers += await asyncio.gather(batcher.decide(2 * number), batcher.decide(2 * number + 1))
    return answers


def test_fast_sync_runs_on_the_loop() -> None:
    journal = _Journal(seconds=0.0)
    batcher = _batcher(journal, inline_below_s=0.001)

    async def scenario() -> list[Batched]:
        loop_thread = threading.get_ident()
        answers = await _decide_batches(batcher, 5)
        assert journal.threads == [loop_thread] * 5
        return answers

    answers = asyncio.run(scenario())
    decided = [answer.record.transaction.transaction_id for answer in answers]
    assert decided == list(range(10))
    assert batcher.sync_seconds < 0.001


def test_slow_sync_moves_to_a_thread_and_back() -> None:
    journal = _Journal(seconds=0.02)
    batcher = _batcher(journal, inline_below_s=0.001)

    async def scenario() -> int:
        loop_thread = threading.get_ident()
        await _decide_batches(batcher, 3)
        # The first sync ran inline and measured the slow disk, the next ones did not.
        assert journal.threads[0] == loop_thread
        assert loop_thread not in journal.threads[1:]
        journal.seconds = 0.0
        await _decide_batches(batcher, 30)
        return loop_thread

    loop_thread = asyncio.run(scenario())
    # Fast syncs pull the average down again, so the last batches sync inline.
    assert journal.threads[-1] == loop_thread
    assert batcher.sync_seconds < 0.001


def test_zero_threshold_always_uses_a_thread() -> None:
    journal = _Journal(seconds=0.0)
    batcher = _batcher(journal, inline_below_s=0.0)

    async def scenario() -> int:
        await _decide_batches(batcher, 4)
        return threading.get_ident()

    loop_thread = asyncio.run(scenario())
    assert len(journal.threads) == 4
    assert loop_thread not in journal.threads


@pytest.mark.parametrize("inline_below_s", [0.0, 0.001])
def test_failed_sync_fails_the_batch(inline_below_s: float) -> None:
    journal = _Journal(fail=True)
    batcher = _batcher(journal, inline_below_s)

    async def scenario() -> None:
        results = await asyncio.gather(batcher.decide(1), batcher.decide(2), return_exceptions=True)
        assert [type(result) for result in results] == [OSError, OSError]

    asyncio.run(scenario())


def test_batch_waits_for_running_thread_sync() -> None:
    # 30 ms inline, then threads: 300 ms, 1 ms, 1 ms. The fast ones bring the average
    # under 5 ms while the 300 ms sync still runs.
    journal = _Journal(durations=[0.03, 0.3, 0.001, 0.001])
    batcher = _batcher(journal, inline_below_s=0.005)

    async def scenario() -> list[int]:
        loop_thread = threading.get_ident()
        finished: list[int] = []

        async def batch(number: int) -> None:
            await asyncio.gather(batcher.decide(2 * number), batcher.decide(2 * number + 1))
            finished.append(number)

        await batch(1)
        slow = asyncio.create_task(batch(2))
        await asyncio.sleep(0.05)
        await batch(3)
        await batch(4)
        assert batcher.sync_seconds < 0.005
        fifth = asyncio.create_task(batch(5))
        await asyncio.sleep(0.05)
        # The fifth batch waits for the 300 ms sync instead of blocking the loop on it.
        assert len(journal.threads) == 4
        await asyncio.gather(slow, fifth)
        assert journal.threads[4] == loop_thread
        return finished

    assert asyncio.run(scenario()) == [1, 3, 4, 2, 5]


def test_slow_failing_sync_leaves_the_loop() -> None:
    journal = _Journal(seconds=0.02, fail=True)
    batcher = _batcher(journal, inline_below_s=0.005)

    async def scenario() -> int:
        for number in range(5):
            await asyncio.gather(batcher.decide(number), return_exceptions=True)
        return threading.get_ident()

    loop_thread = asyncio.run(scenario())
    assert journal.threads[0] == loop_thread
    assert journal.threads[-1] != loop_thread


def test_inline_probe_corrects_thread_timings() -> None:
    # Syncs take no time on the loop but 8 ms in a thread, as when the thread waits
    # for the GIL. Without a probe on the loop, the average would stay high.
    journal = _Journal(durations=[0.05], thread_seconds=0.008)
    batcher = _batcher(journal, inline_below_s=0.005)

    async def scenario() -> int:
        journal.loop_thread = threading.get_ident()
        await _decide_batches(batcher, 30)
        return journal.loop_thread

    loop_thread = asyncio.run(scenario())
    assert loop_thread in journal.threads[1:25]
    assert journal.threads[-1] == loop_thread


def test_waiting_batches_start_no_new_thread_sync() -> None:
    # 27 ms inline, then threads of 300, 100 and 0 ms. After the 0 ms one the average is
    # under 5 ms, so batch 5 waits for the running syncs. The 100 ms one then lifts the
    # average over 5 ms, and batch 6 must still wait instead of starting a thread sync.
    journal = _Journal(durations=[0.027, 0.3, 0.1, 0.0])
    batcher = _batcher(journal, inline_below_s=0.005)

    async def scenario() -> int:
        async def launch(number: int) -> asyncio.Task:
            task = asyncio.ensure_future(batcher.decide(number))
            await asyncio.sleep(0.005)
            return task

        await batcher.decide(1)
        slow = [await launch(2), await launch(3)]
        await batcher.decide(4)
        waiting = [await launch(5)]
        assert len(journal.threads) == 4
        await asyncio.sleep(0.15)
        assert batcher.sync_seconds > 0.005
        waiting.append(await launch(6))
        assert len(journal.threads) == 4
        await asyncio.gather(*slow, *waiting)
        return threading.get_ident()

    loop_thread = asyncio.run(scenario())
    assert len(journal.threads) == 5
    assert journal.threads[4] == loop_thread
