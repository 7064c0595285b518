"""The fan-out contract: every replica hears every stream change, its own included.

A change is published once, as the JSON text clients receive, and each replica's hub
gets it back through `receive` (the callback given to `open`), whichever replica made it.
The embedded backend is in-process (memory.py); the others use the services a cluster
already has: a RabbitMQ fanout exchange, Redis pub/sub, PostgreSQL LISTEN/NOTIFY.

Delivery is at most once and fast: a change lost while a connection is down is not
replayed by the fan-out (the item is in the store; clients that reconnect get a snapshot
or the ring's copy). Order is what the service keeps per publisher; the hub puts a
group's changes back in version order whatever arrives first (_log.py).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

Receive = Callable[[str], None]


class FanOut(ABC):
    """Carries change frames between the replicas of one app (`namespace`)."""

    #: short name for logs and `MOTIA_STREAMS_FANOUT` ("memory", "rabbitmq", "redis", "postgres")
    kind: str = ""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self._receive: Receive | None = None

    async def open(self, receive: Receive) -> None:
        """Connect and start listening; `receive(text)` is called for every change."""
        self._receive = receive
        await self._open()

    @abstractmethod
    async def _open(self) -> None:
        """Connect and subscribe; raise AdapterUnavailable with the URL and the fix."""

    @abstractmethod
    async def publish(self, text: str) -> None:
        """Send one change to every replica (this one too)."""

    @abstractmethod
    async def close(self) -> None:
        """Stop listening and disconnect; safe to call twice."""

    def _deliver(self, text: str) -> None:
        if self._receive is not None:
            self._receive(text)
