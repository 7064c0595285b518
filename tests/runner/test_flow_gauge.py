"""The app-wide waiting count (delivery/flow/gauge.py): replicas' snapshots merged so each
waiting event counts once, on the rule of its latest deferral, and a replica's entry in the
store follows what waits on it (and is removed when nothing does)."""

from __future__ import annotations

from motia.runner.bus.base import Event
from motia.runner.delivery.flow.gauge import WaitingGauge
from motia.runner.delivery.flow.waiting import FlowWaiting, merge
from motia.runner.state.memory import MemoryStore


class _Ctx:
    def __init__(self, event_id: str) -> None:
        self.event_id = event_id


def _event(event_id: str) -> Event:
    return Event(topic="job", data={}, trace_id="t", event_id=event_id)


def test_an_event_two_replicas_list_counts_once_on_its_latest_rule() -> None:
    # Given replica a saw e1 wait on order and e2 on rate, and replica b saw e1 later on
    # concurrency, and e3 on rate
    a = {"work": {"e1": ["order", 1.0], "e2": ["rate", 1.5]}}
    b = {"work": {"e1": ["concurrency", 2.0], "e3": ["rate", 2.0]}, "other": {"e9": ["rate", 1.0]}}
    # Then the app has 3 waiting on work (e1 on concurrency only) and 1 on other
    assert merge([a, b]) == {"work": {"concurrency": 1, "rate": 2}, "other": {"rate": 1}}
    assert merge([b, a]) == merge([a, b])
    assert merge([]) == {}


async def test_a_replicas_entry_follows_what_waits_and_is_removed_when_nothing_does() -> None:
    store = MemoryStore("gauge")
    clock = [100.0]
    waiting = FlowWaiting(clock=lambda: clock[0], wall=lambda: clock[0])
    gauge = WaitingGauge(store, waiting)
    # Given two events deferred on concurrency, one of them then on rate
    waiting.after_defer("work", _event("e1"), 0.25, "flow.concurrency: no free slot")
    waiting.after_defer("work", _event("e2"), 0.25, "flow.concurrency: no free slot")
    clock[0] += 0.1
    waiting.after_defer("work", _event("e2"), 1.0, "flow.rate: window full")
    await gauge.publish()
    # Then the store holds this replica's entry and the app-wide count reads it
    assert await store.gauges() == {gauge.replica: {"work": {"e1": ["concurrency", 100.0],
                                                             "e2": ["rate", 100.1]}}}
    assert await gauge.app_wide() == {"work": {"concurrency": 1, "rate": 1}}
    # When both ran, the entry is removed at the next publish, and nothing waits
    waiting.after_invoke("work", _Ctx("e1"), 0.01, None)
    waiting.after_skip("work", _Ctx("e2"), "debounced")
    await gauge.publish()
    assert await store.gauges() == {}
    assert await gauge.app_wide() == {}
    # And close removes a live entry
    waiting.after_defer("work", _event("e3"), 0.25, "flow.order: not its turn")
    await gauge.publish()
    assert len(await store.gauges()) == 1
    await gauge.close()
    assert await store.gauges() == {}
