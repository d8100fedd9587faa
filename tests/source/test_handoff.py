"""The bounded hand-off between the fan-out's loop and the dlt consumer thread."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from ingest.source.handoff import Handoff, HandoffClosed


def _producer(q: Handoff[int], n: int, done: list[str]) -> threading.Thread:
    async def produce() -> None:
        try:
            for i in range(n):
                await q.put(i)
            done.append("all")
        except HandoffClosed:
            done.append("closed")

    t = threading.Thread(target=lambda: asyncio.run(produce()), daemon=True)
    t.start()
    return t


def test_a_full_queue_holds_the_producer_until_the_consumer_takes():
    q: Handoff[int] = Handoff(maxsize=2)
    done: list[str] = []
    t = _producer(q, 50, done)
    time.sleep(0.2)
    assert not done  # parked at the bound, not running ahead
    got = [q.get(timeout=5) for _ in range(50)]
    t.join(timeout=5)
    assert got == list(range(50))
    assert done == ["all"]
    assert q.get(timeout=0.05) is None  # nothing more: the timeout answers None


def test_close_wakes_a_parked_producer():
    q: Handoff[int] = Handoff(maxsize=1)
    done: list[str] = []
    t = _producer(q, 10, done)
    time.sleep(0.2)
    q.close()
    t.join(timeout=5)
    assert done == ["closed"]


def test_the_final_item_never_waits():
    q: Handoff[int] = Handoff(maxsize=1)
    asyncio.run(q.put(1))
    q.put_final(2)  # one past the bound
    assert [q.get(timeout=1), q.get(timeout=1)] == [1, 2]


def test_many_producers_lose_no_wake_up():
    q: Handoff[tuple[int, int]] = Handoff(maxsize=3)

    async def produce() -> None:
        async def one(k: int) -> None:
            for i in range(40):
                await q.put((k, i))

        async with asyncio.TaskGroup() as tg:
            for k in range(8):
                tg.create_task(one(k))

    t = threading.Thread(target=lambda: asyncio.run(produce()), daemon=True)
    t.start()
    got = [q.get(timeout=5) for _ in range(8 * 40)]
    t.join(timeout=5)
    assert None not in got
    assert sorted(x for x in got if x is not None) == sorted(
        (k, i) for k in range(8) for i in range(40)
    )


def test_cancelling_a_parked_producer_passes_its_wake_up_on():
    q: Handoff[int] = Handoff(maxsize=1)
    results: list[str] = []

    async def main() -> None:
        await q.put(0)
        first = asyncio.create_task(q.put(1))
        second = asyncio.create_task(q.put(2))
        await asyncio.sleep(0.05)
        assert q.get(timeout=1) == 0  # frees the slot: schedules waking `first`
        await asyncio.sleep(0)  # the wake-up runs; `first` is due to resume ...
        first.cancel()  # ... but goes away before it could use the slot
        with pytest.raises(asyncio.CancelledError):
            await first
        await asyncio.wait_for(second, 2)  # the wake-up reached `second`
        results.append("ok")

    asyncio.run(main())
    assert results == ["ok"]
    assert q.get(timeout=1) == 2
