"""Per-key sequence numbers, taken when an event is published: what "publish order" is.

`order` runs a key's events in the order they were published, and `debounce` runs a
burst with its last event. Neither can be read off the queue: a broker redelivers an
unacked message out of order, retries and deferrals come back later, and replicas
consume in parallel. So `EventBus.publish` numbers each event, per subscribing step and
key, from a counter in the shared store (`StateStore.flow_sequence`) and the number
travels with the event (`Event.seqs`, an AMQP header on RabbitMQ); the rules compare it
with what the store says is next (order) or latest (debounce).

A publisher that takes a number and then fails to publish leaves a gap; order.py skips
a gap once it is older than any real event could be (see `gap_after`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from motia.compiler.ir import App, Step
from motia.runner.delivery.flow import _wait
from motia.runner.delivery.keys import KeyReader
from motia.runner.state.base import StateStore

if TYPE_CHECKING:
    from motia.runner.bus.base import Event

#: the rules that number events at publish time
SEQUENCED = ("order", "debounce")


def seq_label(step: Step, rule: str) -> str:
    """The name of a step's rule in `Event.seqs`."""
    return f"{step.name}.{rule}"


def counter(step: Step, rule: str, key: str) -> str:
    """The store name of the sequence of one key of one rule (the latest number taken)."""
    return _wait.name(step, rule, key, "seq")


class Sequencer:
    """Stamps events with the sequence numbers their subscribers' rules need."""

    def __init__(self, app: App, store: StateStore) -> None:
        self.store = store
        #: topic -> (step, rule, key reader) for every sequenced rule subscribed to it
        self._rules: dict[str, list[tuple[Step, str, KeyReader | None]]] = {}
        for step in app.steps:
            control = step.flow_control
            if control is None or not step.runs:
                continue
            for rule in SEQUENCED:
                spec = getattr(control, rule)
                if spec is not None:
                    for topic in step.subscribes:
                        self._rules.setdefault(topic, []).append(
                            (step, rule, _wait.reader(spec.key)))

    async def stamp(self, events: Sequence[Event]) -> Sequence[Event]:
        """`events` with their numbers; the same objects when no subscriber needs one.
        Numbers of one call are taken in the order of `events` (one publisher's order)."""
        if not self._rules or not any(e.topic in self._rules for e in events):
            return events
        stamped = []
        for event in events:
            rules = self._rules.get(event.topic)
            if rules:
                event = await self._stamp(event, rules)
            stamped.append(event)
        return stamped

    async def _stamp(self, event: Event, rules: list[tuple[Step, str, KeyReader | None]]
                     ) -> Event:
        labels = [seq_label(step, rule) for step, rule, _ in rules]
        names = [counter(step, rule, _key(read, event)) for step, rule, read in rules]
        numbers = await asyncio.gather(*(self.store.flow_sequence(n) for n in names))
        seqs = dict(event.seqs or {})
        seqs.update(zip(labels, numbers, strict=True))
        return replace(event, seqs=seqs)


def _key(read: KeyReader | None, event: Event) -> str:
    if read is None:
        return _wait.MISSING_KEY
    value = read(event.data)
    return _wait.MISSING_KEY if value is None else value
