"""The embedded fan-out: one process, so a published change is simply handed back."""

from __future__ import annotations

from motia.runner.streams.base import FanOut


class MemoryFanOut(FanOut):
    """Changes reach this process's subscribers only (the default without shared services)."""

    kind = "memory"

    async def _open(self) -> None:
        pass

    async def publish(self, text: str) -> None:
        self._deliver(text)

    async def close(self) -> None:
        self._receive = None
