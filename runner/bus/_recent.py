"""The events a replica published in the last seconds, to send again if a queue is deleted.

Deleting a queue destroys what it holds. Motia's consumers keep a step queue nearly
empty (prefetch takes each message as it arrives), so what a deletion destroys is
mostly the events routed into it in its last milliseconds, confirmed to the publisher
all the same. Each RabbitMQ bus remembers what it published for `window` seconds, and
when it learns a queue is gone (the broker returned a publish, or cancelled a consumer
of that queue) it sends those events to the queue again: duplicates (at-least-once;
idempotent steps skip them) instead of a loss. A backlog older than the window is
destroyed with the queue; docs/production.md says so.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Collection

from motia.runner.bus.base import Event

#: how long published events are remembered (seconds): what a healthy queue holds is
#: milliseconds old, but the signal of a deletion can reach a loaded replica a second or
#: more late, and the window counts back from when it arrives
WINDOW = 3.0


class RecentPublishes:
    """A time-ordered window of published events; cheap to append on every publish."""

    def __init__(self, window: float = WINDOW) -> None:
        self.window = window
        self._events: deque[tuple[float, Event]] = deque()
        #: queues re-sent to recently (monotonic time): one deletion, one re-send
        self._resent: dict[str, float] = {}

    def record(self, events: list[Event]) -> None:
        now = time.monotonic()
        kept = self._events
        for event in events:
            kept.append((now, event))
        horizon = now - self.window
        while kept and kept[0][0] < horizon:
            kept.popleft()

    def take(self, queue: str, topics: Collection[str]) -> list[Event]:
        """The events of `topics` published within the window, to send to `queue` again;
        [] when `queue` had them re-sent within the window already (the broker signals
        one deletion several ways: each returned publish, each cancelled consumer)."""
        now = time.monotonic()
        if now - self._resent.get(queue, -2 * self.window) < self.window:
            return []
        self._resent[queue] = now
        horizon = now - self.window
        return [event for at, event in self._events if at >= horizon and event.topic in topics]

    def since(self, at: float, topics: Collection[str]) -> list[Event]:
        """The events of `topics` published at or after monotonic time `at` (those sent
        while a deleted queue was being declared again: no queue of theirs held them)."""
        return [event for t, event in self._events if t >= at and event.topic in topics]
