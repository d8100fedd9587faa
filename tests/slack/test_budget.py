"""GCRA bucket behaviour on a fake clock (no real time involved)."""

from __future__ import annotations

import asyncio
import threading

import pytest

from ingest.slack.budget import Bucket, get_bucket, registered_buckets, reset_buckets
from ingest.slack.limits import Budget
from tests.slack.conftest import FakeClock


def make(
    rate: float | None, burst: int, time_scale: float = 1.0, **kw: object
) -> tuple[Bucket, FakeClock]:
    clock = FakeClock(1000.0)
    return Bucket(Budget(rate, burst), time_scale, clock=clock, **kw), clock  # type: ignore[arg-type]


def test_spacing_is_exact_without_burst() -> None:
    bucket, clock = make(60.0, 1)  # one per second
    waits = [bucket.reserve() for _ in range(5)]
    assert waits == [0.0, 1.0, 2.0, 3.0, 4.0]
    # time passing does not change the schedule already taken
    clock.advance(2.5)
    assert bucket.reserve() == pytest.approx(2.5)  # slot at t0+5


def test_burst_then_rate_then_burst_again_after_idle() -> None:
    bucket, clock = make(60.0, 5)
    start = clock()
    slots = [bucket.reserve_at() - start for _ in range(8)]
    assert slots == [0.0] * 5 + [1.0, 2.0, 3.0]
    clock.advance(100.0)  # idle long enough for the whole burst to come back
    start = clock()
    slots = [bucket.reserve_at() - start for _ in range(6)]
    assert slots == [0.0] * 5 + [1.0]


def test_partial_recovery_gives_partial_burst() -> None:
    bucket, clock = make(60.0, 3)
    start = clock()
    for _ in range(3):
        bucket.reserve_at()
    clock.advance(2.0)  # two intervals: two slots come back
    slots = [bucket.reserve_at() - start for _ in range(3)]
    assert slots == [2.0, 2.0, 3.0]


def test_time_scale_multiplies_the_rate() -> None:
    bucket, _ = make(50.0, 1, time_scale=60.0)
    assert bucket.interval_s == pytest.approx(60 / 50 / 60)
    waits = [bucket.reserve() for _ in range(3)]
    assert waits == pytest.approx([0.0, 0.02, 0.04])
    assert bucket.current_rate_per_min == 50.0


def test_never_more_than_burst_plus_window_over_a_long_random_run() -> None:
    import random

    rng = random.Random(7)
    bucket, clock = make(120.0, 4)  # T = 0.5 s
    slots = []
    for _ in range(2000):
        if rng.random() < 0.3:
            clock.advance(rng.uniform(0, 1.5))
        slots.append(bucket.reserve_at())
    slots.sort()
    interval = 0.5
    # GCRA invariant: any window of length w holds at most burst + w/T slots
    j = 0
    for i in range(len(slots)):
        while slots[i] - slots[j] > 10.0:
            j += 1
        window = slots[i] - slots[j]
        assert i - j + 1 <= 4 + window / interval + 1e-9


def test_block_for_pushes_everyone_and_allows_no_burst_after() -> None:
    bucket, clock = make(60.0, 5)
    start = clock()
    early = bucket.reserve_at()
    assert bucket.is_clear(early)
    until = bucket.block_for(10.0)
    assert until == start + 10.0
    assert not bucket.is_clear(early)  # the holder must re-reserve
    slots = [bucket.reserve_at() - start for _ in range(3)]
    assert slots == [10.0, 11.0, 12.0]
    assert all(bucket.is_clear(start + s) for s in slots)
    # a shorter block does not shorten the existing one
    assert bucket.block_for(1.0) == start + 10.0


def test_adaptive_lowering_only_when_429s_keep_coming_after_a_block() -> None:
    bucket, clock = make(100.0, 1, recover_every=3)
    # first 429: block only (could be another user of the same app budget)
    assert bucket.on_429(1.0, sent_at=clock()) is False
    assert bucket.current_rate_per_min == 100.0
    block_end = bucket.blocked_until
    # a request that was in flight before the block ended: same event, no lowering
    assert bucket.on_429(1.0, sent_at=block_end - 0.5) is False
    assert bucket.current_rate_per_min == 100.0
    # a request sent after we obeyed the block still gets 429: too fast
    clock.advance(5.0)
    assert bucket.on_429(1.0, sent_at=clock()) is True
    assert bucket.current_rate_per_min == pytest.approx(80.0)
    assert bucket.n_rate_decreases == 1
    # keeps lowering, down to the floor (25% of the table)
    for _ in range(20):
        clock.advance(5.0)
        bucket.on_429(1.0, sent_at=clock())
    assert bucket.current_rate_per_min == pytest.approx(25.0)
    assert bucket.interval_s == pytest.approx(60 / 25)
    # slow recovery: +5% every recover_every successes, capped at the table
    for _ in range(2):
        assert bucket.on_success() is False
    assert bucket.on_success() is True
    assert bucket.current_rate_per_min == pytest.approx(25.0 * 1.05)
    for _ in range(3 * 200):
        bucket.on_success()
    assert bucket.current_rate_per_min == 100.0
    assert bucket.on_success() is False  # at the table rate nothing changes
    assert bucket.snapshot()["n_429"] == 23


def test_unlimited_bucket_waits_only_for_blocks() -> None:
    bucket, clock = make(None, 1)
    assert [bucket.reserve() for _ in range(100)] == [0.0] * 100
    bucket.on_429(2.0, sent_at=clock())
    assert bucket.reserve() == pytest.approx(2.0)
    assert bucket.current_rate_per_min is None
    assert not bucket.is_stale(clock() - 100)


def test_stale_slot_detection() -> None:
    bucket, clock = make(60.0, 1)  # T = 1 s
    slot = bucket.reserve_at()
    clock.advance(0.4)
    assert not bucket.is_stale(slot)
    clock.advance(0.2)
    assert bucket.is_stale(slot)


def test_reservations_from_many_threads_are_atomic() -> None:
    bucket, clock = make(60.0, 3)  # T = 1 s, fake clock frozen
    start = clock()
    slots: list[float] = []
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        mine = [bucket.reserve_at() for _ in range(250)]
        with lock:
            slots.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # every slot handed out exactly once: burst of 3 at start, then one per second
    expected = [0.0] * 3 + [float(k) for k in range(1, 2000 - 2)]
    assert sorted(s - start for s in slots) == expected


def test_registry_returns_the_same_bucket_from_any_thread() -> None:
    budget = Budget(50.0, 9)
    found: list[Bucket] = []

    def worker() -> None:
        found.append(get_bucket("ws|T1", "conversations.history", budget, 60.0))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(b) for b in found}) == 1
    assert get_bucket("ws|T1", "conversations.history", budget, 60.0) is found[0]
    assert get_bucket("ws|T1", "conversations.replies", budget, 60.0) is not found[0]
    assert get_bucket("ws|T2", "conversations.history", budget, 60.0) is not found[0]
    assert set(registered_buckets()) == {
        ("ws|T1", "conversations.history"),
        ("ws|T1", "conversations.replies"),
        ("ws|T2", "conversations.history"),
    }
    # a different configuration reconfigures the shared bucket in place
    again = get_bucket("ws|T1", "conversations.history", Budget(10.0, 2), 1.0)
    assert again is found[0]
    assert again.current_rate_per_min == 10.0 and again.time_scale == 1.0
    reset_buckets()
    assert registered_buckets() == {}


def test_bad_bucket_configuration() -> None:
    with pytest.raises(ValueError):
        Bucket(Budget(10.0, 1), 0.0)
    with pytest.raises(ValueError):
        Bucket(Budget(10.0, 0), 1.0)


def test_late_answer_recharges_the_schedule() -> None:
    bucket, clock = make(60.0, 3)  # T = 1 s, tau = 2 s
    start = clock()
    tickets = [bucket.reserve_ticket() for _ in range(3)]
    assert [slot - start for slot, _ in tickets] == [0.0, 0.0, 0.0]
    # after idle, the burst window just moves to the first answer (0.1 s later)...
    clock.advance(0.1)
    assert bucket.on_answer(tickets[0][1]) is True
    # ...and an answer within that window changes nothing
    assert not bucket.on_answer(tickets[1][1], answered_at=start + 0.05)
    # the server stalled: the third request was counted 5 s late, with everything after it
    clock.set(start + 5.0)
    assert bucket.on_answer(tickets[2][1]) is True
    # as if it had arrived at t=5: TAT = 5 + 1, so the next slot is now, then 1 s apart
    assert [bucket.reserve_at() - start for _ in range(3)] == [5.0, 5.0, 6.0]
    assert bucket.n_late_answers == 2


def test_late_answer_counts_reservations_taken_after_it() -> None:
    bucket, clock = make(60.0, 1)  # T = 1 s, no burst
    start = clock()
    _, first = bucket.reserve_ticket()  # slot 0
    for _ in range(4):
        bucket.reserve_at()  # slots 1..4, TAT = 5
    clock.set(start + 3.0)
    # answered at 3: it and the 4 after it need until 3 + 5 = 8
    assert bucket.on_answer(first) is True
    assert bucket.reserve_at() - start == 8.0


def test_steady_state_latency_below_tau_never_recharges() -> None:
    bucket, clock = make(60.0, 9)  # T = 1 s, tau = 8 s
    answered = 0
    pending: list[tuple[float, int]] = []
    for _ in range(200):
        pending.append(bucket.reserve_ticket())
        clock.advance(1.0)
        slot, ticket = pending.pop(0)
        answered += bucket.on_answer(ticket, answered_at=max(slot, clock()) + 3.0)
    assert answered <= 1  # only the very first, when the bucket was idle


async def test_in_flight_cap_is_fifo_and_released_by_finish() -> None:
    bucket, _ = make(60.0, 2)
    assert bucket.in_flight_cap == 2
    assert await bucket.start() is False
    assert bucket.try_start() is True
    assert bucket.try_start() is False
    order: list[int] = []

    async def waiter(i: int) -> None:
        assert await bucket.start() is True
        order.append(i)

    tasks = [asyncio.create_task(waiter(i)) for i in range(3)]
    await asyncio.sleep(0)
    assert order == [] and bucket.in_flight == 2
    bucket.finish()
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert order == [0]
    bucket.finish()
    bucket.finish()
    await asyncio.gather(*tasks)
    assert order == [0, 1, 2] and bucket.in_flight == 2
    assert bucket.n_in_flight_waits == 3


async def test_cancelled_waiter_gives_its_place_on() -> None:
    bucket, _ = make(60.0, 1)
    assert bucket.try_start()
    first = asyncio.create_task(bucket.start())
    second = asyncio.create_task(bucket.start())
    await asyncio.sleep(0)
    bucket.finish()  # hands the place to `first`...
    first.cancel()  # ...which is cancelled before it runs: the place must reach `second`
    with pytest.raises(asyncio.CancelledError):
        await first
    assert await asyncio.wait_for(second, 1.0) is True
    assert bucket.in_flight == 1


def test_in_flight_places_cross_threads_and_loops() -> None:
    bucket, _ = make(60.0, 1)
    assert bucket.try_start()
    woke = threading.Event()

    def other_thread() -> None:
        async def run() -> None:
            await bucket.start()
            woke.set()
            bucket.finish()

        asyncio.run(run())

    thread = threading.Thread(target=other_thread)
    thread.start()
    assert not woke.wait(0.05)  # blocked behind our place
    bucket.finish()  # wakes the other loop
    thread.join(5)
    assert woke.is_set() and bucket.in_flight == 0


def test_unlimited_bucket_has_no_in_flight_cap() -> None:
    bucket, _ = make(None, 1)
    assert bucket.in_flight_cap is None
    assert all(bucket.try_start() for _ in range(100))
    assert bucket.on_answer(1) is False
