"""Per group: changes put back in version order, and a ring of the latest for resumes.

Changes reach a replica over the fan-out in the order their publishers' connections
delivered them, which across replicas (or two writers in one process) need not be the
order of their versions. `GroupLog.add` releases a group's changes in version order: one
that arrives ahead of a missing version is held until the missing one arrives or
`GAP_WAIT` passes (a writer that took a version and then failed never publishes it), so
subscribers see every item's changes in the order they were made.

The newest `RING` released changes stay in a ring. A client that reconnects naming the
last version it got (`Last-Event-ID`) is sent what it missed from the ring when the ring
reaches back that far (`since`), and a fresh snapshot otherwise.
"""

from __future__ import annotations

import heapq
from collections import OrderedDict, deque
from dataclasses import dataclass, field

from motia.runner.streams._wire import Frame

#: changes kept per group for resumes
RING = 1000
#: how long a change waits for a missing earlier version before going out anyway (s)
GAP_WAIT = 3.0
#: groups whose order and ring a replica keeps; the least recently changed go first
MAX_GROUPS = 10_000


@dataclass(order=True)
class Change:
    """One change as it travels: `frame` is what clients get, encoded once for all of them."""

    version: int
    id: str | None = field(compare=False)
    frame: Frame = field(compare=False)


class GroupLog:
    """The order and the ring of one (stream, group) on this replica."""

    def __init__(self, released: int, ring: int = RING) -> None:
        #: every version up to this one went out (or was given up on)
        self.released = released
        #: the ring holds every change released after this version
        self.floor = released
        self.ring: deque[Change] = deque()
        self._size = ring
        self._held: list[Change] = []

    def add(self, change: Change) -> list[Change]:
        """The changes `change` lets out, in version order (it may be held instead)."""
        if change.version <= self.released:
            return [self._keep(change)]  # late: after its gap was given up on
        if change.version != self.released + 1:
            heapq.heappush(self._held, change)
            return []
        out = [self._keep(change)]
        self.released = change.version
        while self._held and self._held[0].version <= self.released + 1:
            nxt = heapq.heappop(self._held)
            self.released = max(self.released, nxt.version)
            out.append(self._keep(nxt))
        return out

    @property
    def waiting(self) -> bool:
        return bool(self._held)

    def give_up(self) -> list[Change]:
        """Release every held change, skipping the versions that never came."""
        out = []
        while self._held:
            nxt = heapq.heappop(self._held)
            self.released = max(self.released, nxt.version)
            out.append(self._keep(nxt))
        return out

    def since(self, version: int) -> list[Change] | None:
        """The changes after `version`, None when the ring does not reach back that far."""
        if version < self.floor or version > self.released:
            return None
        return [c for c in self.ring if c.version > version]

    def _keep(self, change: Change) -> Change:
        if len(self.ring) >= self._size:
            self.floor = self.ring.popleft().version
        self.ring.append(change)
        return change


class GroupLogs:
    """The GroupLog of every group this replica has seen, the oldest dropped past MAX_GROUPS."""

    def __init__(self, limit: int = MAX_GROUPS) -> None:
        self._logs: OrderedDict[tuple[str, str], GroupLog] = OrderedDict()
        self._limit = limit

    def get(self, key: tuple[str, str]) -> GroupLog | None:
        return self._logs.get(key)

    def ensure(self, key: tuple[str, str], released: int) -> GroupLog:
        log = self._logs.get(key)
        if log is None:
            log = self._logs[key] = GroupLog(released)
            if len(self._logs) > self._limit:
                self._logs.popitem(last=False)
        else:
            self._logs.move_to_end(key)
        return log
