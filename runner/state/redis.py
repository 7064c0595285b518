"""The Redis state store: shared state for any number of replicas (`--state redis`).

Key layout, all under `motia:{<namespace>}:` (the braces are a Redis Cluster hash tag:
one app's keys share a slot, so its multi-key scripts stay legal on a cluster):

- `g:<group>`               hash key -> JSON text: the durable entries of a group
- `groups`                  set of group names that hold (or held) entries
- `x:<len>:<group>:<key>`   string with PX: an expiring entry (leases, idempotency marks);
                            hash fields cannot expire, so these live on their own keys
- `e:<group>`               sorted set key -> expiry (ms): the index of a group's
                            expiring entries, so they can be listed and cleared
- `k:<group>`               sorted set of the hash's keys, all scored 0: the key index
                            `state.list` pages through in key order (_redis_list.py)

Every read-modify-write is a Lua script (see _redis_lua.py) or a MULTI block: one round
trip, atomic on the server. The client never re-sends a command after a dropped
connection, because a re-sent `incr`, lease or take could apply twice; the caller sees
AdapterUnavailable instead. Pooled connections the server closed (a Redis restart,
CLIENT KILL, an idle timeout) are noticed and replaced before reuse, so no call fails.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from motia.errors import StateError
from motia.runner.state import _redis_list, _redis_update
from motia.runner.state import _redis_lua as lua
from motia.runner.state._paging import prefix_end
from motia.runner.state._unavailable import CONNECT_TIMEOUT, unavailable
from motia.runner.state._update import Op, failure
from motia.runner.state.base import Number, StateStore

DEFAULT_URL = "redis://127.0.0.1:6379/0"
#: connections per store; callers beyond this wait for a free one
MAX_CONNECTIONS = 32


class RedisStore(StateStore):
    """State in Redis at `url`, shared by every replica that uses the same namespace."""

    kind = "redis"

    def __init__(self, namespace: str, url: str = DEFAULT_URL) -> None:
        super().__init__(namespace)
        self.url = url
        self._prefix = f"motia:{{{namespace}}}:"
        self._client: aioredis.Redis | None = None
        self._scripts: dict[str, Any] = {}

    # --- lifecycle ----------------------------------------------------------------------

    async def open(self) -> None:
        if self._client is not None:
            return
        try:
            pool = aioredis.BlockingConnectionPool.from_url(
                self.url,
                max_connections=MAX_CONNECTIONS,
                socket_connect_timeout=CONNECT_TIMEOUT,
                retry=Retry(NoBackoff(), 0),
                decode_responses=True,
                # RESP2: redis-py skips its check for connections the server closed while
                # pooled when RESP3 maintenance notifications are on (redis-py >= 7).
                protocol=2,
                client_name=f"motia:{self.namespace}",  # who is who in CLIENT LIST
            )
        except ValueError as exc:
            raise unavailable("Redis", self.url, exc) from None
        client = aioredis.Redis.from_pool(pool)
        try:
            await client.ping()
        except (RedisError, OSError) as exc:
            await client.aclose()
            raise unavailable("Redis", self.url, exc) from None
        self._client = client
        for name in ("DELETE", "TAKE", "INCR", "ADD_IF_ABSENT", "ITEMS", "CLEAR", "GROUPS",
                     "DELETE_IF", "RENEW_IF", "COUNT_EXPIRING"):
            self._scripts[name] = client.register_script(getattr(lua, name))
        self._scripts["UPDATE"] = client.register_script(_redis_update.UPDATE)
        self._scripts["LIST"] = client.register_script(_redis_list.LIST)

    async def close(self) -> None:
        client, self._client = self._client, None
        self._scripts.clear()
        if client is not None:
            await client.aclose()

    async def ping(self) -> None:
        try:
            await self._connected().ping()
        except (RedisError, OSError) as exc:
            raise unavailable("Redis", self.url, exc) from exc

    # --- key naming -----------------------------------------------------------------------

    def _hash(self, group: str) -> str:
        return f"{self._prefix}g:{group}"

    def _index(self, group: str) -> str:
        return f"{self._prefix}e:{group}"

    def _keys(self, group: str) -> str:
        return f"{self._prefix}k:{group}"

    def _entry_prefix(self, group: str) -> str:
        # The byte length keeps (group "a:b", key "c") apart from (group "a", key "b:c").
        return f"{self._prefix}x:{len(group.encode())}:{group}:"

    def _key_args(self, group: str, key: str) -> list[str]:
        """KEYS for the per-key scripts: hash, expiring entry, expiry index, group set,
        key index."""
        return [
            self._hash(group), self._entry_prefix(group) + key, self._index(group),
            f"{self._prefix}groups", self._keys(group),
        ]

    # --- plumbing -------------------------------------------------------------------------

    async def _run(self, name: str, keys: Sequence[str], args: Sequence[Any] = ()) -> Any:
        if self._client is None:
            raise StateError(f"the redis state store at {self.url} is not open; call open() first")
        try:
            return await self._scripts[name](keys=list(keys), args=list(args))
        except (RedisError, OSError) as exc:
            raise unavailable("Redis", self.url, exc) from exc

    def _connected(self) -> aioredis.Redis:
        if self._client is None:
            raise StateError(f"the redis state store at {self.url} is not open; call open() first")
        return self._client

    async def _transaction(self, *commands: tuple[str, ...]) -> list[Any]:
        """Run `commands` in one MULTI/EXEC block (atomic, one round trip)."""
        async with self._connected().pipeline(transaction=True) as pipe:
            for command in commands:
                pipe.execute_command(*command)
            try:
                return list(await pipe.execute())
            except (RedisError, OSError) as exc:
                raise unavailable("Redis", self.url, exc) from exc

    # --- primitives -----------------------------------------------------------------------

    async def _get(self, group: str, key: str) -> str | None:
        hash_key, entry, *_ = self._key_args(group, key)
        durable, expiring = await self._transaction(("HGET", hash_key, key), ("GET", entry))
        value = durable if durable is not None else expiring
        return None if value is None else str(value)

    async def _set(self, group: str, key: str, value: str) -> None:
        hash_key, entry, index, groups, keys = self._key_args(group, key)
        await self._transaction(
            ("HSET", hash_key, key, value), ("SADD", groups, group),
            ("DEL", entry), ("ZREM", index, key), ("ZADD", keys, "0", key),
        )

    async def _delete(self, group: str, key: str) -> None:
        await self._run("DELETE", self._key_args(group, key), [key, group])

    async def _delete_many(self, group: str, keys: Sequence[str]) -> None:
        """The per-key DELETE script for each key, pipelined: one round trip."""
        if not keys:
            return
        script = self._scripts["DELETE"]
        async with self._connected().pipeline(transaction=False) as pipe:
            for key in keys:
                await script(keys=self._key_args(group, key), args=[key, group], client=pipe)
            try:
                await pipe.execute()
            except (RedisError, OSError) as exc:
                raise unavailable("Redis", self.url, exc) from exc

    async def _take(self, group: str, key: str) -> str | None:
        value = await self._run("TAKE", self._key_args(group, key), [key, group])
        return None if value is None else str(value)

    async def _items(self, group: str) -> dict[str, str]:
        flat = await self._run(
            "ITEMS", [self._hash(group), self._index(group)], [self._entry_prefix(group)]
        )
        return {str(k): str(v) for k, v in zip(flat[::2], flat[1::2], strict=True)}

    async def _clear(self, group: str) -> None:
        await self._run(
            "CLEAR",
            [self._hash(group), self._index(group), f"{self._prefix}groups", self._keys(group)],
            [self._entry_prefix(group), group],
        )

    async def _groups(self) -> list[str]:
        names = await self._run(
            "GROUPS", [f"{self._prefix}groups"], [f"{self._prefix}g:", f"{self._prefix}e:"]
        )
        return [str(n) for n in names]

    async def _incr(self, group: str, key: str, by: Number) -> Number:
        integral = isinstance(by, int)
        status, text = await self._run(
            "INCR", self._key_args(group, key), [key, group, json.dumps(by), "1" if integral else "0"]
        )
        if status == "nan":
            raise StateError(f"incr {group}/{key}: the value {json.loads(text)!r} is not a number")
        if status == "range":
            limit = " (Redis counters are 64-bit integers)" if text == "int" else ""
            raise StateError(f"incr {group}/{key}: the result is out of range{limit}")
        value: Number = json.loads(text)
        return value

    async def _update(self, group: str, key: str, ops: tuple[Op, ...]) -> str | None:
        reply = await self._run("UPDATE", self._key_args(group, key),
                                _redis_update.update_args(key, group, ops))
        if reply[0] == "err":
            _, index, code, depth, found = reply
            raise failure(group, key, ops, int(index), str(code), int(depth), str(found or ""))
        return None if len(reply) < 2 else str(reply[1])

    async def _page(
        self, group: str, after: str | None, prefix: str, count: int
    ) -> list[tuple[str, str]]:
        low, high = _redis_list.lex_range(after, prefix, prefix_end(prefix))
        flat = await self._run("LIST", [self._hash(group), self._keys(group)], [low, high, count])
        return [(str(k), str(v)) for k, v in zip(flat[::2], flat[1::2], strict=True)]

    async def _add_if_absent(self, group: str, key: str, value: str, ttl: float | None) -> bool:
        ttl_ms = "" if ttl is None else str(max(1, math.ceil(ttl * 1000)))
        added = await self._run("ADD_IF_ABSENT", self._key_args(group, key), [key, group, value, ttl_ms])
        return bool(added)

    async def _count_expiring(self, group: str, key: str, ttl: float, by: int) -> int:
        ttl_ms = str(max(1, math.ceil(ttl * 1000)))
        return int(await self._run("COUNT_EXPIRING", self._key_args(group, key),
                                   [key, group, ttl_ms, str(by)]))

    async def _delete_if(self, group: str, key: str, value: str) -> bool:
        return bool(await self._run("DELETE_IF", self._key_args(group, key), [key, group, value]))

    async def _renew_if(self, group: str, key: str, value: str, ttl: float) -> bool:
        ttl_ms = str(max(1, math.ceil(ttl * 1000)))
        return bool(await self._run("RENEW_IF", self._key_args(group, key),
                                    [key, group, value, ttl_ms]))
