"""Pacing pieces on explicit times or a fake clock (no real time involved): the GCRA
schedule, the in-flight gate, the adaptive rate, and the ``Bucket`` that composes them."""

from __future__ import annotations

import asyncio
import random
import threading

import pytest

from ingest.slack.limits import Budget
from ingest.slack.pacing import (
    AdaptivePolicy,
    AdaptiveRate,
    Bucket,
    Gcra,
    InFlightGate,
    get_bucket,
    registered_buckets,
    reset_buckets,
)
from tests.slack.conftest import FakeClock


def make(
    rate: float | None, burst: int, time_scale: float = 1.0, **kw: object
) -> tuple[Bucket, FakeClock]:
    clock = FakeClock(1000.0)
    return Bucket(Budget(rate, burst), time_scale, clock=clock, **kw), clock  # type: ignore[arg-type]


def slot_of(bucket: Bucket) -> float:
    """Reserve; the slot's time on the bucket's clock."""
    return bucket.reserve_ticket()[0]


def wait_of(bucket: Bucket) -> float:
    """Reserve; the seconds to wait before sending."""
    return max(0.0, slot_of(bucket) - bucket.clock())


def interval_of(bucket: Bucket) -> float:
    rate = bucket.current_rate_per_min
    assert rate is not None
    return 60.0 / (rate * bucket.time_scale)


# -- GCRA arithmetic (pure: the time is an argument) -------------------------------------------


def test_gcra_spacing_is_exact_without_burst() -> None:
    gcra = Gcra(1.0, 1)  # one per second
    now = 1000.0
    assert [gcra.reserve(now) - now for _ in range(5)] == [0.0, 1.0, 2.0, 3.0, 4.0]
    # time passing does not change the schedule already taken: slot at now+5
    assert gcra.reserve(now + 2.5) - (now + 2.5) == pytest.approx(2.5)


def test_gcra_burst_then_rate_then_burst_again_after_idle() -> None:
    gcra = Gcra(1.0, 5)
    assert [gcra.reserve(0.0) for _ in range(8)] == [0.0] * 5 + [1.0, 2.0, 3.0]
    # idle long enough for the whole burst to come back
    assert [gcra.reserve(100.0) - 100.0 for _ in range(6)] == [0.0] * 5 + [1.0]


def test_gcra_partial_recovery_gives_partial_burst() -> None:
    gcra = Gcra(1.0, 3)
    for _ in range(3):
        gcra.reserve(0.0)
    # two intervals later: two slots came back
    assert [gcra.reserve(2.0) for _ in range(3)] == [2.0, 2.0, 3.0]


def test_gcra_never_more_than_burst_plus_window_over_a_long_random_run() -> None:
    rng = random.Random(7)
    gcra = Gcra(0.5, 4)
    now, slots = 0.0, []
    for _ in range(2000):
        if rng.random() < 0.3:
            now += rng.uniform(0, 1.5)
        slots.append(gcra.reserve(now))
    slots.sort()
    # GCRA invariant: any window of length w holds at most burst + w/T slots
    j = 0
    for i in range(len(slots)):
        while slots[i] - slots[j] > 10.0:
            j += 1
        assert i - j + 1 <= 4 + (slots[i] - slots[j]) / 0.5 + 1e-9


def test_gcra_hold_until_and_not_before_leave_no_burst_after_a_block() -> None:
    gcra = Gcra(1.0, 5)
    gcra.hold_until(10.0)
    assert [gcra.reserve(0.0, not_before=10.0) for _ in range(3)] == [10.0, 11.0, 12.0]


def test_gcra_recharge_and_staleness() -> None:
    gcra = Gcra(1.0, 1)
    for _ in range(5):
        gcra.reserve(0.0)  # slots 0..4, TAT = 5
    assert gcra.recharge(3.0, 5) is True  # 5 reservations charged from t=3: TAT = 8
    assert gcra.reserve(0.0) == 8.0
    assert gcra.recharge(1.0, 1) is False  # earlier than the schedule: nothing moves
    assert not gcra.is_stale(8.0, 8.4)
    assert gcra.is_stale(8.0, 8.6)


def test_gcra_rejects_bad_configuration() -> None:
    with pytest.raises(ValueError):
        Gcra(0.0, 1)
    with pytest.raises(ValueError):
        Gcra(1.0, 0)


# -- adaptive rate -----------------------------------------------------------------------------


def test_adaptive_rate_lowers_only_when_429s_keep_coming_after_a_block() -> None:
    rate = AdaptiveRate(100.0, policy=AdaptivePolicy(recover_every=3))
    # first 429: block only (could be another user of the same app budget)
    assert rate.on_429(sent_at=0.0, previous_block_end=float("-inf")) is False
    assert rate.rate == 100.0
    # a request sent before the block ended: same event, no lowering
    assert rate.on_429(sent_at=0.5, previous_block_end=1.0) is False
    assert rate.rate == 100.0
    # sent after we obeyed the block and still a 429: too fast
    assert rate.on_429(sent_at=5.0, previous_block_end=1.0) is True
    assert rate.rate == pytest.approx(80.0) and rate.n_decreases == 1
    for _ in range(20):
        rate.on_429(sent_at=5.0, previous_block_end=1.0)
    assert rate.rate == pytest.approx(25.0)  # floor: 25% of the table
    assert [rate.on_success() for _ in range(3)] == [False, False, True]
    assert rate.rate == pytest.approx(25.0 * 1.05) and rate.n_increases == 1
    for _ in range(3 * 200):
        rate.on_success()
    assert rate.rate == 100.0
    assert rate.on_success() is False


def test_adaptive_rate_unlimited_never_adapts() -> None:
    rate = AdaptiveRate(None)
    rate.on_429(sent_at=0.0, previous_block_end=-1.0)
    assert rate.on_429(sent_at=5.0, previous_block_end=1.0) is False
    assert rate.rate is None and rate.on_success() is False


# -- in-flight gate ----------------------------------------------------------------------------


async def test_gate_is_fifo_and_released_by_leave() -> None:
    gate = InFlightGate(2)
    assert await gate.enter() is False
    assert gate.try_enter() is True
    assert gate.try_enter() is False
    order: list[int] = []

    async def waiter(i: int) -> None:
        assert await gate.enter() is True
        order.append(i)

    tasks = [asyncio.create_task(waiter(i)) for i in range(3)]
    await asyncio.sleep(0)
    assert order == [] and gate.in_flight == 2
    gate.leave()
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert order == [0]
    gate.leave()
    gate.leave()
    await asyncio.gather(*tasks)
    assert order == [0, 1, 2] and gate.in_flight == 2
    assert gate.n_waits == 3


async def test_gate_cancelled_waiter_gives_its_place_on() -> None:
    gate = InFlightGate(1)
    assert gate.try_enter()
    first = asyncio.create_task(gate.enter())
    second = asyncio.create_task(gate.enter())
    await asyncio.sleep(0)
    gate.leave()  # hands the place to `first`...
    first.cancel()  # ...which is cancelled before it runs: the place must reach `second`
    with pytest.raises(asyncio.CancelledError):
        await first
    assert await asyncio.wait_for(second, 1.0) is True
    assert gate.in_flight == 1


def test_gate_places_cross_threads_and_loops() -> None:
    gate = InFlightGate(1)
    assert gate.try_enter()
    woke = threading.Event()

    def other_thread() -> None:
        async def run() -> None:
            await gate.enter()
            woke.set()
            gate.leave()

        asyncio.run(run())

    thread = threading.Thread(target=other_thread)
    thread.start()
    assert not woke.wait(0.05)  # blocked behind our place
    gate.leave()  # wakes the other loop
    thread.join(5)
    assert woke.is_set() and gate.in_flight == 0


async def test_gate_growing_cap_wakes_waiters_and_no_cap_admits_all() -> None:
    gate = InFlightGate(1)
    assert gate.try_enter()
    task = asyncio.create_task(gate.enter())
    await asyncio.sleep(0)
    assert not task.done()
    gate.set_cap(2)
    assert await asyncio.wait_for(task, 1.0) is True
    unlimited = InFlightGate(None)
    assert all(unlimited.try_enter() for _ in range(100))


# -- the Bucket composing them -----------------------------------------------------------------


def test_bucket_time_scale_multiplies_the_rate() -> None:
    bucket, _ = make(50.0, 1, time_scale=60.0)
    assert interval_of(bucket) == pytest.approx(60 / 50 / 60)
    assert [wait_of(bucket) for _ in range(3)] == pytest.approx([0.0, 0.02, 0.04])
    assert bucket.current_rate_per_min == 50.0


def test_bucket_429_blocks_everyone_and_allows_no_burst_after() -> None:
    bucket, clock = make(60.0, 5)
    start = clock()
    early = slot_of(bucket)
    assert bucket.is_clear(early)
    bucket.on_429(10.0)
    assert bucket.blocked_until == start + 10.0
    assert not bucket.is_clear(early)  # the holder must re-reserve
    slots = [slot_of(bucket) - start for _ in range(3)]
    assert slots == [10.0, 11.0, 12.0]
    assert all(bucket.is_clear(start + s) for s in slots)
    # a shorter block does not shorten the existing one
    bucket.on_429(1.0)
    assert bucket.blocked_until == start + 10.0


def test_bucket_lowers_its_pace_with_the_adaptive_rate() -> None:
    bucket, clock = make(100.0, 1, adaptive=AdaptivePolicy(recover_every=3))
    assert bucket.on_429(1.0, sent_at=clock()) is False
    block_end = bucket.blocked_until
    assert bucket.on_429(1.0, sent_at=block_end - 0.5) is False
    clock.advance(5.0)
    assert bucket.on_429(1.0, sent_at=clock()) is True
    assert bucket.current_rate_per_min == pytest.approx(80.0)
    assert bucket.n_rate_decreases == 1
    for _ in range(20):
        clock.advance(5.0)
        bucket.on_429(1.0, sent_at=clock())
    assert bucket.current_rate_per_min == pytest.approx(25.0)
    # the schedule follows the lowered rate: slots 60/25 s apart once the block is over
    clock.advance(10.0)
    first, second = slot_of(bucket), slot_of(bucket)
    assert second - first == pytest.approx(60 / 25)
    for _ in range(2):
        assert bucket.on_success() is False
    assert bucket.on_success() is True
    assert bucket.current_rate_per_min == pytest.approx(25.0 * 1.05)
    assert bucket.snapshot()["n_429"] == 23


def test_unlimited_bucket_waits_only_for_blocks() -> None:
    bucket, clock = make(None, 1)
    assert [wait_of(bucket) for _ in range(100)] == [0.0] * 100
    bucket.on_429(2.0, sent_at=clock())
    assert wait_of(bucket) == pytest.approx(2.0)
    assert bucket.current_rate_per_min is None
    assert not bucket.is_stale(clock() - 100)
    assert bucket.in_flight_cap is None
    assert bucket.on_answer(1) is False


def test_bucket_stale_slot_detection() -> None:
    bucket, clock = make(60.0, 1)  # T = 1 s
    slot = slot_of(bucket)
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
        mine = [slot_of(bucket) for _ in range(250)]
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
    assert again.in_flight_cap == 2
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
    assert [slot_of(bucket) - start for _ in range(3)] == [5.0, 5.0, 6.0]
    assert bucket.n_late_answers == 2


def test_late_answer_counts_reservations_taken_after_it() -> None:
    bucket, clock = make(60.0, 1)  # T = 1 s, no burst
    start = clock()
    _, first = bucket.reserve_ticket()  # slot 0
    for _ in range(4):
        slot_of(bucket)  # slots 1..4, TAT = 5
    clock.set(start + 3.0)
    # answered at 3: it and the 4 after it need until 3 + 5 = 8
    assert bucket.on_answer(first) is True
    assert slot_of(bucket) - start == 8.0


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


async def test_bucket_in_flight_cap_is_the_burst() -> None:
    bucket, _ = make(60.0, 2)
    assert bucket.in_flight_cap == 2
    assert await bucket.start() is False
    assert await bucket.start() is False
    third = asyncio.create_task(bucket.start())
    await asyncio.sleep(0)
    assert not third.done() and bucket.in_flight == 2
    bucket.finish()
    assert await asyncio.wait_for(third, 1.0) is True
    assert bucket.n_in_flight_waits == 1
