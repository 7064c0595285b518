"""Stream items in the state store: where they live, their versions, and who may write.

Items are kept in reserved groups of the app's state store, so they survive restarts and
every replica reads the same ones (a client that connects later gets a snapshot):

- `__motia.stream:<stream>:<group>`  key = item id, value = `{"v": version, "data": ...}`
- `__motia.streamseq`                key = `<stream>:<group>`, the group's change counter

Every change of a group (a set, a delete, an ephemeral `send`) takes the next number of
the group's counter (the store's atomic `incr`), and that number is the change's version.
So versions grow per group, hence per item, on every replica alike: subscribers put the
changes of a group back in order by it, and a client resuming with `Last-Event-ID` names
one (see _log.py). Stream names cannot hold `:` (they are motia.yaml names), so the
reserved group names are unambiguous whatever the group is.

A write holds the item's lock from reading the old record to storing the new one, so two
writers of one item cannot leave the store holding the older of the two versions: an
asyncio lock within this process, plus, on a store shared by replicas (Redis,
PostgreSQL), a short lease in the store itself.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from motia.errors import StreamError
from motia.runner.state.base import RESERVED_PREFIX, StateStore

ITEMS_PREFIX = f"{RESERVED_PREFIX}stream:"
SEQ_GROUP = f"{RESERVED_PREFIX}streamseq"
LOCK_GROUP = f"{RESERVED_PREFIX}streamlock"
#: stores that other replicas write too: a write also takes a lease in the store
SHARED_STORES = frozenset({"redis", "postgres"})
#: a lease outlives a replica that died holding it by this long at most (seconds)
LOCK_TTL = 5.0
#: a writer gives up waiting for an item's lease after this long (seconds)
LOCK_WAIT = 10.0
_encode = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode


def items_group(stream: str, group: str) -> str:
    return f"{ITEMS_PREFIX}{stream}:{group}"


def seq_key(stream: str, group: str) -> str:
    return f"{stream}:{group}"


def split_items_group(name: str) -> tuple[str, str] | None:
    """(stream, group) of a reserved items group name, None for any other group."""
    if not name.startswith(ITEMS_PREFIX):
        return None
    stream, _, group = name[len(ITEMS_PREFIX):].partition(":")
    return (stream, group) if group else None


class StreamItems:
    """The items of every stream of one app, in `store`."""

    def __init__(self, store: StateStore) -> None:
        self.store = store
        self._shared = store.kind in SHARED_STORES
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}
        self._owner = uuid.uuid4().hex

    async def get(self, stream: str, group: str, id_: str) -> tuple[int, Any] | None:
        """(version, data) of one item, None when there is none."""
        raw = await self.store._get(items_group(stream, group), id_)
        return None if raw is None else _record(raw)

    async def get_group(self, stream: str, group: str) -> dict[str, tuple[int, Any]]:
        raw = await self.store._items(items_group(stream, group))
        return {id_: _record(text) for id_, text in raw.items()}

    async def groups(self, stream: str) -> list[str]:
        """The groups of `stream` that hold items (or held some, on Redis)."""
        found = (split_items_group(name) for name in await self.store._groups())
        return sorted(pair[1] for pair in found if pair is not None and pair[0] == stream)

    async def version(self, stream: str, group: str) -> int:
        """The group's latest version (0 before its first change)."""
        raw = await self.store._get(SEQ_GROUP, seq_key(stream, group))
        return int(json.loads(raw)) if raw is not None else 0

    async def next_version(self, stream: str, group: str) -> int:
        return int(await self.store._incr(SEQ_GROUP, seq_key(stream, group), 1))

    async def write(self, stream: str, group: str, id_: str, text: str) -> tuple[int, bool]:
        """Store `text` (the item's JSON) as the item; (its version, whether it is new)."""
        async with self._lock(stream, group, id_):
            existed = await self.store._get(items_group(stream, group), id_) is not None
            version = await self.next_version(stream, group)
            await self.store._set(items_group(stream, group), id_,
                                  f'{{"v":{version},"data":{text}}}')
        return version, not existed

    async def remove(self, stream: str, group: str, id_: str) -> int | None:
        """Delete the item; the version of the deletion, None when there was no item."""
        async with self._lock(stream, group, id_):
            if await self.store._get(items_group(stream, group), id_) is None:
                return None
            version = await self.next_version(stream, group)
            await self.store._delete(items_group(stream, group), id_)
        return version

    @asynccontextmanager
    async def _lock(self, stream: str, group: str, id_: str) -> AsyncIterator[None]:
        key = f"{stream}:{group}:{id_}" if len(id_) < 512 else f"{stream}:{group}:{hash(id_)}"
        lock, users = self._locks.get(key) or (asyncio.Lock(), 0)
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                if self._shared:
                    await self._lease(key)
                try:
                    yield
                finally:
                    if self._shared:
                        await self.store._delete(LOCK_GROUP, key)
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    async def _lease(self, key: str) -> None:
        deadline, pause = time.monotonic() + LOCK_WAIT, 0.002
        while not await self.store._add_if_absent(LOCK_GROUP, key, self._owner, LOCK_TTL):
            if time.monotonic() > deadline:
                raise StreamError(f"stream item {key!r} stayed locked by another replica for "
                                  f"{LOCK_WAIT:g} s; try again")
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.05)


def _record(raw: str) -> tuple[int, Any]:
    record = json.loads(raw)
    return int(record["v"]), record["data"]


def encode(value: Any) -> str:
    """Compact JSON text, as every stream frame is written."""
    return _encode(value)
