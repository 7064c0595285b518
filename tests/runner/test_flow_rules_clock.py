"""Flow-control middlewares with an injected clock, on the memory store: exact windows,
the end-of-window guard, and order skipping a number that never came."""

from __future__ import annotations

import pytest

from motia.compiler.ir import Order as OrderRule
from motia.compiler.ir import Rate as RateRule
from motia.compiler.ir import Step
from motia.runner.bus.base import Event
from motia.runner.delivery.base import Defer, Delivery, Skip
from motia.runner.delivery.flow.order import Order, gap_after
from motia.runner.delivery.flow.rate import Rate
from motia.runner.delivery.leases import LeaseKeeper
from motia.runner.state.memory import MemoryStore
from motia.runner.workers.api import InvocationContext

STEP = Step(name="work", type="event", subscribes=("job",), timeout=1.0, retries=1)


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def delivery(data: dict[str, object], seqs: dict[str, int] | None = None) -> Delivery:
    event = Event(topic="job", data=data, trace_id="t", seqs=seqs)
    return Delivery(STEP, event, InvocationContext(trace_id="t", event_id=event.event_id,
                                                   attempt=1, topic="job"))


async def test_rate_admits_limit_per_window_and_guards_the_windows_end() -> None:
    ran: list[str] = []

    async def run(d: Delivery) -> None:
        ran.append(d.event.data["key"])

    clock = Clock(100.0)
    rate = Rate(STEP, RateRule(3, 1.0, "key"), MemoryStore(), clock=clock)
    # Given 3 starts per 1 s window: three run at 100.0, the fourth waits to the next window
    for _ in range(3):
        await rate(delivery({"key": "a"}), run)
    with pytest.raises(Defer) as waited:
        await rate(delivery({"key": "a"}), run)
    assert waited.value.delay == 1.0
    assert waited.value.reason == "flow.rate: 3 starts of key 'a' in this window"
    # And another key has its own windows
    await rate(delivery({"key": "b"}), run)
    # When the clock is in the last tenth of the window, a start counts in both windows
    clock.now = 100.95
    await rate(delivery({"key": "b"}), run)
    with pytest.raises(Defer):
        await rate(delivery({"key": "a"}), run)  # window 100 is full for a
    # Then in window 101, b has one start fewer left (it used one at 100.95)
    clock.now = 101.2
    await rate(delivery({"key": "b"}), run)
    await rate(delivery({"key": "b"}), run)
    with pytest.raises(Defer):
        await rate(delivery({"key": "b"}), run)
    assert ran == ["a", "a", "a", "b", "b", "b", "b"]


async def test_order_skips_a_number_that_never_came_after_the_gap_time() -> None:
    store = MemoryStore()
    leases = LeaseKeeper(store)
    clock = Clock(1000.0)
    order = Order(STEP, OrderRule("key"), store, leases, clock=clock)
    ran: list[int] = []

    async def run(d: Delivery) -> None:
        ran.append(int(d.event.data["n"]))

    try:
        # Given number 1 of key a never published, and number 2 waiting for it
        with pytest.raises(Defer) as waited:
            await order(delivery({"key": "a", "n": 2}, {"work.order": 2}), run)
        assert waited.value.reason == "flow.order: key 'a' waits for event 1 before 2"
        # When less than the gap time passed it still waits
        clock.now += gap_after(STEP) - 1
        with pytest.raises(Defer):
            await order(delivery({"key": "a", "n": 2}, {"work.order": 2}), run)
        # Then after it, number 1 is skipped and number 2 runs
        clock.now += 2
        await order(delivery({"key": "a", "n": 2}, {"work.order": 2}), run)
        assert ran == [2]
        # And number 1 arriving after all is taken as already handled; 3 is next
        with pytest.raises(Skip):
            await order(delivery({"key": "a", "n": 1}, {"work.order": 1}), run)
        await order(delivery({"key": "a", "n": 3}, {"work.order": 3}), run)
        assert ran == [2, 3]
        assert gap_after(STEP) == 2 * 1.0 + 0.5 + 60.0
    finally:
        await leases.close()


async def test_a_lingering_slot_is_given_back_at_shutdown() -> None:
    from motia.compiler.ir import Concurrency as ConcurrencyRule
    from motia.runner.delivery.flow.concurrency import Concurrency

    store = MemoryStore()
    leases = LeaseKeeper(store)
    concurrency = Concurrency(STEP, ConcurrencyRule(1, "key"), leases)

    async def run(d: Delivery) -> None:
        return None

    # Given a slot kept for the key's next event after a delivery finished
    await concurrency(delivery({"key": "a"}), run)
    assert leases.held == 1
    assert await store.acquire_lease("work:concurrency:a:0", 5, owner="other") is False
    # When the replica shuts down, then the slot is free at once for another replica
    await leases.close()
    assert await store.acquire_lease("work:concurrency:a:0", 5, owner="other") is True
