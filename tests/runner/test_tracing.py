"""The trace store: spans per invocation, bounded to the newest traces."""

from __future__ import annotations

from motia.errors import HandlerError
from motia.runner.tracing import TraceStore
from motia.runner.workers.api import InvocationContext


def ctx(n: int, attempt: int = 1) -> InvocationContext:
    return InvocationContext(trace_id=f"trace-{n}", event_id=f"event-{n}", attempt=attempt)


def test_a_span_records_its_step_timing_and_outcome() -> None:
    store = TraceStore()
    store.before_invoke("charge", ctx(1), {"id": 1})
    store.after_invoke("charge", ctx(1), 0.25, None)
    store.before_invoke("charge", ctx(1, attempt=2), {"id": 1})
    store.after_invoke("charge", ctx(1, attempt=2), 0.5, HandlerError("charge", "declined"))

    trace = store.get("trace-1")
    assert trace is not None and trace.status == "error"
    spans = [s.to_dict() for s in trace.spans]
    assert [(s["step"], s["attempt"], s["status"], s["duration"]) for s in spans] == [
        ("charge", 1, "ok", 0.25), ("charge", 2, "error", 0.5)]
    assert spans[1]["error"]["message"].endswith("declined")


def test_only_the_newest_traces_are_kept_and_evicted_spans_are_forgotten() -> None:
    # Given a store for 3 traces and an invocation still running in the oldest one
    store = TraceStore(limit=3)
    store.before_invoke("slow", ctx(0), None)
    for n in range(1, 5):
        store.before_invoke("fast", ctx(n), None)
        store.after_invoke("fast", ctx(n), 0.001, None)

    # Then the 3 newest remain, and the evicted trace's open span is gone with it
    assert {t.trace_id for t in store.recent()} == {"trace-2", "trace-3", "trace-4"}
    assert "trace-0" not in store and len(store) == 3
    store.after_invoke("slow", ctx(0), 1.0, None)  # finishing late must not resurrect it
    assert "trace-0" not in store


def test_a_retry_that_succeeds_leaves_the_trace_ok() -> None:
    store = TraceStore()
    store.before_invoke("charge", ctx(1), None)
    store.after_invoke("charge", ctx(1), 0.1, HandlerError("charge", "timeout"))
    store.before_invoke("charge", ctx(1, attempt=2), None)
    store.after_invoke("charge", ctx(1, attempt=2), 0.1, None)
    trace = store.get("trace-1")
    assert trace is not None and trace.status == "ok"
    assert [item["kind"] for item in trace.story()] == ["failed", "ok"]


def test_a_dead_letter_replayed_successfully_ends_done_with_its_story() -> None:
    from motia.runner.bus.base import Event
    from motia.runner.state.base import DeadLetter

    # Given an event that failed and became a dead letter
    store = TraceStore()
    store.before_invoke("charge", ctx(1), None)
    store.after_invoke("charge", ctx(1), 0.1, HandlerError("charge", "declined"))
    letter = DeadLetter(step="charge", topic="t", data={"n": 1}, event_id="event-1",
                        trace_id="trace-1", attempts=1, error={"message": "declined"})
    store.after_dead_letter(letter)
    trace = store.get("trace-1")
    assert trace is not None and trace.status == "error"
    # When it is replayed, Then the trace runs again, and ends "done" once the replay succeeds
    store.after_replay(letter, Event(topic="t", data={"n": 1}, trace_id="trace-1",
                                     event_id="event-1"))
    store.before_invoke("charge", ctx(1), None)
    assert trace.status == "running"
    store.after_invoke("charge", ctx(1), 0.1, None)
    assert trace.status == "done" and trace.summary()["replayed"] == 1
    assert [(item["kind"], item["step"]) for item in trace.story()] == [
        ("failed", "charge"), ("dead_letter", "charge"), ("replayed", "charge"), ("done", None)]
    assert trace.story()[2]["edited"] is False
