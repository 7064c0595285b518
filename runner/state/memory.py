"""The in-process state store: dicts in this process, gone when it exits.

The embedded choice for tests and throwaway runs (`--state memory`). Every operation
is atomic because it never awaits between reading and writing.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable

from motia.errors import StateError
from motia.runner.state.base import Number, StateStore


class MemoryStore(StateStore):
    kind = "memory"

    def __init__(self, namespace: str = "app") -> None:
        super().__init__(namespace)
        self._groups_data: dict[str, dict[str, str]] = {}
        self._expiry: dict[tuple[str, str], float] = {}

    async def _get(self, group: str, key: str) -> str | None:
        self._expire(group, key)
        return self._groups_data.get(group, {}).get(key)

    async def _set(self, group: str, key: str, value: str) -> None:
        self._groups_data.setdefault(group, {})[key] = value
        self._expiry.pop((group, key), None)

    async def _delete(self, group: str, key: str) -> None:
        items = self._groups_data.get(group)
        if items is not None:
            items.pop(key, None)
            if not items:
                del self._groups_data[group]
        self._expiry.pop((group, key), None)

    async def _items(self, group: str) -> dict[str, str]:
        for key in list(self._groups_data.get(group, {})):
            self._expire(group, key)
        return dict(self._groups_data.get(group, {}))

    async def _clear(self, group: str) -> None:
        for key in list(self._groups_data.get(group, {})):
            self._expiry.pop((group, key), None)
        self._groups_data.pop(group, None)

    async def _incr(self, group: str, key: str, by: Number) -> Number:
        raw = await self._get(group, key)
        current = 0 if raw is None else json.loads(raw)
        if isinstance(current, bool) or not isinstance(current, int | float):
            raise StateError(f"incr {group}/{key}: the value {current!r} is not a number")
        value = current + by
        if not math.isfinite(value):
            raise StateError(f"incr {group}/{key}: the result is out of range")
        await self._set(group, key, json.dumps(value))
        return value

    async def _modify(
        self, group: str, key: str, change: Callable[[str | None], str | None]
    ) -> str | None:
        # No await between the read and the write: atomic on the one event loop.
        self._expire(group, key)
        new = change(self._groups_data.get(group, {}).get(key))
        if new is None:
            await self._delete(group, key)
        else:
            await self._set(group, key, new)
        return new

    async def _groups(self) -> list[str]:
        return [g for g, items in self._groups_data.items() if items]

    async def _add_if_absent(self, group: str, key: str, value: str, ttl: float | None) -> bool:
        if await self._get(group, key) is not None:
            return False
        await self._set(group, key, value)
        if ttl is not None:
            self._expiry[(group, key)] = time.monotonic() + ttl
        return True

    async def _count_expiring(self, group: str, key: str, ttl: float, by: int) -> int:
        raw = await self._get(group, key)
        if raw is None:
            await self._add_if_absent(group, key, str(by), ttl)
            return by
        count = int(json.loads(raw)) + by
        self._groups_data[group][key] = str(count)  # not _set: the expiry stays
        return count

    async def _delete_if(self, group: str, key: str, value: str) -> bool:
        if await self._get(group, key) != value:
            return False
        await self._delete(group, key)
        return True

    async def _renew_if(self, group: str, key: str, value: str, ttl: float) -> bool:
        if await self._get(group, key) != value:
            return False
        self._expiry[(group, key)] = time.monotonic() + ttl
        return True

    def _expire(self, group: str, key: str) -> None:
        deadline = self._expiry.get((group, key))
        if deadline is not None and time.monotonic() >= deadline:
            self._expiry.pop((group, key), None)
            items = self._groups_data.get(group, {})
            items.pop(key, None)
            if not items:
                self._groups_data.pop(group, None)
