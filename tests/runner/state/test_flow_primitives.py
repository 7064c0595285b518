"""The store primitives flow control stands on, on every store (same fixtures as
test_contract.py): window counters that expire, sequences, kept values."""

from __future__ import annotations

import asyncio

from motia.runner.state.base import StateStore


async def test_a_window_counter_counts_up_then_starts_again_after_its_ttl(
    store: StateStore,
) -> None:
    # Given a counter of a 0.3 s window counted three times
    assert [await store.count_in_window("rate:w1", 0.3) for _ in range(3)] == [1, 2, 3]
    # Then counting again does not extend its life
    await asyncio.sleep(0.2)
    assert await store.count_in_window("rate:w1", 0.3) == 4
    # And once the window ran out it starts at 1 again
    await asyncio.sleep(0.15)
    assert await store.count_in_window("rate:w1", 0.3) == 1
    assert await store.count_in_window("rate:other", 0.3) == 1


async def test_concurrent_counts_are_each_counted_once(store: StateStore) -> None:
    counts = await asyncio.gather(*(store.count_in_window("rate:w2", 5) for _ in range(20)))
    assert sorted(counts) == list(range(1, 21))
    # And a count by more takes that many at once
    assert await store.count_in_window("rate:w2", 5, by=30) == 50
    assert await store.count_in_window("rate:w3", 5, by=7) == 7


async def test_sequences_and_kept_values(store: StateStore) -> None:
    # Given a sequence taken from many tasks at once
    numbers = await asyncio.gather(*(store.flow_sequence("seq:k") for _ in range(10)))
    # Then each number was given once, and the latest can be read back
    assert sorted(numbers) == list(range(1, 11))
    assert await store.flow_get("seq:k") == 10
    # And a kept value reads back as it was written
    assert await store.flow_get("next:k") is None
    await store.flow_set("next:k", {"n": 3, "at": 1.5})
    assert await store.flow_get("next:k") == {"n": 3, "at": 1.5}
    # And the runtime's values are not user state
    assert await store.groups() == []


async def test_each_replicas_gauge_is_its_newest_entry_until_its_ttl_passes(
    store: StateStore,
) -> None:
    # Given two replicas' gauges, the first published twice
    await store.put_gauge("r1", 0, {"work": {"e1": ["rate", 1.0]}}, 5)
    await store.put_gauge("r2", 0, {"work": {"e2": ["order", 2.0]}}, 0.3)
    await store.put_gauge("r1", 1, {"work": {"e3": ["rate", 3.0]}}, 5)
    # Then each replica reads as its newest entry
    assert await store.gauges() == {"r1": {"work": {"e3": ["rate", 3.0]}},
                                    "r2": {"work": {"e2": ["order", 2.0]}}}
    # And a gauge not published again is gone once its TTL passed
    await asyncio.sleep(0.4)
    assert await store.gauges() == {"r1": {"work": {"e3": ["rate", 3.0]}}}
    # And a dropped gauge is gone at once; none of it is user state
    await store.drop_gauge("r1", 1)
    assert await store.gauges() == {}
    assert await store.groups() == []
