"""The PostgreSQL state store: shared state for any number of replicas (`--state postgres`).

One table, `motia_state(namespace, grp, key, value, expires_at)`, keyed by
(namespace, grp, key), created on open() under an advisory lock so replicas starting
together do not race on the catalog. Every operation is a single statement on a pooled
connection, so each is atomic by itself: `incr` is one INSERT ... ON CONFLICT DO UPDATE
doing the arithmetic in SQL, and add-if-absent is an upsert whose UPDATE only fires on
an expired row, so exactly one concurrent caller gets a row back.

`value` is `text` holding the JSON exactly as the base class encoded it, not `jsonb`:
jsonb reorders object keys and prints 1e300 as 301 digits, which would read back as an
int; text keeps every backend returning the same values. Expiry uses the database clock
(`now()`), which all replicas share.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from motia.errors import StateError
from motia.runner.state._paging import key_bounds
from motia.runner.state._unavailable import CONNECT_TIMEOUT, unavailable
from motia.runner.state.base import Number, StateStore

DEFAULT_URL = "postgresql://127.0.0.1:5432/test"
POOL_SIZE = 10
#: a statement that runs longer than this (seconds) fails instead of hanging the caller
COMMAND_TIMEOUT = 30.0
#: how often (seconds) add-if-absent also deletes this namespace's expired rows
SWEEP_EVERY = 60.0
#: pg_advisory_xact_lock key serialising schema creation across replicas ("motia_st")
_SCHEMA_LOCK = 0x6D6F7469615F7374

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS motia_state (
        namespace text NOT NULL,
        grp text NOT NULL,
        key text COLLATE "C" NOT NULL,
        value text NOT NULL,
        expires_at timestamptz,
        PRIMARY KEY (namespace, grp, key)
    )""",
    """CREATE INDEX IF NOT EXISTS motia_state_expiry
        ON motia_state (namespace, expires_at) WHERE expires_at IS NOT NULL""",
)
_KEY = "namespace = $1 AND grp = $2 AND key = $3"
_LIVE = "(expires_at IS NULL OR expires_at > now())"
_UPSERT = (
    "INSERT INTO motia_state AS s (namespace, grp, key, value, expires_at) "
    "VALUES ($1, $2, $3, $4, {expires}) ON CONFLICT (namespace, grp, key) DO UPDATE "
)
_SET = _UPSERT.format(expires="NULL") + "SET value = EXCLUDED.value, expires_at = NULL"
# $4 the increment as JSON text, $5 true when it is an integer. int + int is exact
# numeric arithmetic; a float is involved otherwise, and float8's text form (shortest
# round trip) gets ".0" when it looks like an integer, as Python's json writes it.
_INCR = _UPSERT.format(expires="NULL") + """SET expires_at = NULL, value = CASE
    WHEN s.expires_at IS NOT NULL AND s.expires_at <= now() THEN EXCLUDED.value
    WHEN $5::bool AND s.value ~ '^-?[0-9]+$' THEN (s.value::numeric + $4::text::numeric)::text
    ELSE regexp_replace((s.value::float8 + $4::text::float8)::text, '^(-?[0-9]+)$', '\\1.0')
    END
    RETURNING value"""
_ADD_IF_ABSENT = (
    _UPSERT.format(expires="now() + make_interval(secs => $5::float8)")
    + "SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at "
    "WHERE s.expires_at IS NOT NULL AND s.expires_at <= now() RETURNING true"
)
# A live counter counts up and keeps its expiry; a missing or expired one starts at 1.
_COUNT = (
    _UPSERT.format(expires="now() + make_interval(secs => $5::float8)")
    + """SET value = CASE WHEN s.expires_at <= now() THEN EXCLUDED.value
        ELSE (s.value::bigint + EXCLUDED.value::bigint)::text END,
    expires_at = CASE WHEN s.expires_at <= now() THEN EXCLUDED.expires_at
        ELSE s.expires_at END
    RETURNING value"""
)
# state.list orders keys by code point (COLLATE "C"), which the primary key serves only
# when the column itself is "C"; otherwise (a table made before, or another default
# collation) this index does.
_KEY_ORDER_INDEX = """CREATE INDEX IF NOT EXISTS motia_state_key_order
    ON motia_state (namespace, grp, key COLLATE "C")"""
_KEY_COLLATION = """SELECT c.collname FROM pg_attribute a JOIN pg_collation c
    ON c.oid = a.attcollation WHERE a.attrelid = 'motia_state'::regclass AND a.attname = 'key'"""
_LOCK_ROW = f"SELECT value, {_LIVE} AS live FROM motia_state WHERE {_KEY} FOR UPDATE"
_INSERT_NEW = ("INSERT INTO motia_state (namespace, grp, key, value) VALUES ($1, $2, $3, $4) "
               "ON CONFLICT DO NOTHING RETURNING true")
#: rounds of "the row appeared (or went) under us" before an update gives up
_MODIFY_ROUNDS = 50
_UNREACHABLE = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError, ValueError)


class PostgresStore(StateStore):
    """State in PostgreSQL at `url`, shared by every replica that uses the same namespace."""

    kind = "postgres"

    def __init__(self, namespace: str, url: str = DEFAULT_URL) -> None:
        super().__init__(namespace)
        self.url = url
        self._pool: asyncpg.Pool | None = None
        self._last_sweep = 0.0

    # --- lifecycle ----------------------------------------------------------------------

    async def open(self) -> None:
        if self._pool is not None:
            return
        try:
            pool = await asyncpg.create_pool(
                self.url, min_size=1, max_size=POOL_SIZE,
                timeout=CONNECT_TIMEOUT, command_timeout=COMMAND_TIMEOUT,
                # who is who in pg_stat_activity (names are cut at 63 bytes)
                server_settings={"application_name": f"motia:{self.namespace}"[:63]},
            )
        except _UNREACHABLE as exc:
            raise unavailable("PostgreSQL", self.url, exc) from None
        try:
            async with pool.acquire() as conn, conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock($1)", _SCHEMA_LOCK)
                for statement in _SCHEMA:
                    await conn.execute(statement)
                if await conn.fetchval(_KEY_COLLATION) not in ("C", "POSIX"):
                    await conn.execute(_KEY_ORDER_INDEX)
        except BaseException as exc:
            await pool.close()
            if isinstance(exc, _UNREACHABLE):
                raise unavailable("PostgreSQL", self.url, exc) from None
            raise
        self._pool = pool

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    async def ping(self) -> None:
        await self._query("fetchval", "SELECT 1")

    # --- plumbing -------------------------------------------------------------------------

    async def _query(self, method: str, sql: str, *args: Any) -> Any:
        """Run `sql` with pool method `method` (execute/fetch/fetchrow/fetchval)."""
        if self._pool is None:
            raise StateError(f"the postgres state store at {self.url} is not open; call open() first")
        try:
            return await getattr(self._pool, method)(sql, *args)
        except (OSError, TimeoutError, asyncpg.InterfaceError,
                asyncpg.PostgresConnectionError) as exc:
            raise unavailable("PostgreSQL", self.url, exc) from exc

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection inside a transaction, with _query's error mapping."""
        if self._pool is None:
            raise StateError(f"the postgres state store at {self.url} is not open; call open() first")
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                yield conn
        except (OSError, TimeoutError, asyncpg.InterfaceError,
                asyncpg.PostgresConnectionError) as exc:
            raise unavailable("PostgreSQL", self.url, exc) from exc

    # --- primitives -----------------------------------------------------------------------

    async def _get(self, group: str, key: str) -> str | None:
        value = await self._query(
            "fetchval", f"SELECT value FROM motia_state WHERE {_KEY} AND {_LIVE}",
            self.namespace, group, key,
        )
        return None if value is None else str(value)

    async def _set(self, group: str, key: str, value: str) -> None:
        await self._query("execute", _SET, self.namespace, group, key, value)

    async def _delete(self, group: str, key: str) -> None:
        await self._query(
            "execute", f"DELETE FROM motia_state WHERE {_KEY}", self.namespace, group, key
        )

    async def _delete_many(self, group: str, keys: Sequence[str]) -> None:
        await self._query("execute", "DELETE FROM motia_state WHERE namespace = $1 AND "
                          "grp = $2 AND key = ANY($3::text[])", self.namespace, group, list(keys))

    async def _items(self, group: str) -> dict[str, str]:
        rows = await self._query(
            "fetch",
            f"SELECT key, value FROM motia_state WHERE namespace = $1 AND grp = $2 AND {_LIVE} "
            "ORDER BY key",
            self.namespace, group,
        )
        return {str(row["key"]): str(row["value"]) for row in rows}

    async def _clear(self, group: str) -> None:
        await self._query(
            "execute", "DELETE FROM motia_state WHERE namespace = $1 AND grp = $2",
            self.namespace, group,
        )

    async def _groups(self) -> list[str]:
        rows = await self._query(
            "fetch", f"SELECT DISTINCT grp FROM motia_state WHERE namespace = $1 AND {_LIVE}",
            self.namespace,
        )
        return [str(row["grp"]) for row in rows]

    async def _take(self, group: str, key: str) -> str | None:
        row = await self._query(
            "fetchrow", f"DELETE FROM motia_state WHERE {_KEY} RETURNING value, {_LIVE} AS live",
            self.namespace, group, key,
        )
        return None if row is None or not row["live"] else str(row["value"])

    async def _incr(self, group: str, key: str, by: Number) -> Number:
        try:
            text = await self._query(
                "fetchval", _INCR, self.namespace, group, key, json.dumps(by), isinstance(by, int)
            )
        except asyncpg.InvalidTextRepresentationError:
            current = await self._get(group, key)
            shown = None if current is None else json.loads(current)
            raise StateError(f"incr {group}/{key}: the value {shown!r} is not a number") from None
        except asyncpg.NumericValueOutOfRangeError:
            raise StateError(f"incr {group}/{key}: the result is out of range") from None
        value: Number = json.loads(text)
        return value

    async def _modify(
        self, group: str, key: str, change: Callable[[str | None], str | None]
    ) -> str | None:
        where = (self.namespace, group, key)
        async with self._transaction() as conn:
            for _ in range(_MODIFY_ROUNDS):
                # The row lock makes concurrent updates of one key wait for each other.
                row = await conn.fetchrow(_LOCK_ROW, *where)
                new = change(str(row["value"]) if row is not None and row["live"] else None)
                if row is not None:
                    if new is None:
                        await conn.execute(f"DELETE FROM motia_state WHERE {_KEY}", *where)
                    else:
                        await conn.execute(f"UPDATE motia_state SET value = $4, expires_at = NULL "
                                           f"WHERE {_KEY}", *where, new)
                    return new
                # No row to lock: insert it, unless a concurrent update did first (then
                # its row is committed and the next round locks it).
                if new is None or await conn.fetchval(_INSERT_NEW, *where, new):
                    return new
        raise StateError(f"state.update {group}/{key}: the key kept being created and deleted "
                         f"by others; gave up after {_MODIFY_ROUNDS} tries")

    async def _page(
        self, group: str, after: str | None, prefix: str, count: int
    ) -> list[tuple[str, str]]:
        bounds = key_bounds(after, prefix)
        where = "".join(f' AND key COLLATE "C" {op} ${n}' for n, (op, _) in
                        enumerate(bounds, start=3))
        rows = await self._query(
            "fetch",
            f"SELECT key, value FROM motia_state WHERE namespace = $1 AND grp = $2 AND {_LIVE}"
            f'{where} ORDER BY key COLLATE "C" LIMIT {count:d}',
            self.namespace, group, *(key for _, key in bounds),
        )
        return [(str(row["key"]), str(row["value"])) for row in rows]

    async def _add_if_absent(self, group: str, key: str, value: str, ttl: float | None) -> bool:
        await self._sweep()
        added = await self._query(
            "fetchval", _ADD_IF_ABSENT, self.namespace, group, key, value, ttl
        )
        return bool(added)

    async def _count_expiring(self, group: str, key: str, ttl: float, by: int) -> int:
        text = await self._query("fetchval", _COUNT, self.namespace, group, key, str(by), ttl)
        return int(text)

    async def _delete_if(self, group: str, key: str, value: str) -> bool:
        status = await self._query(
            "execute", f"DELETE FROM motia_state WHERE {_KEY} AND value = $4 AND {_LIVE}",
            self.namespace, group, key, value,
        )
        return bool(status != "DELETE 0")

    async def _renew_if(self, group: str, key: str, value: str, ttl: float) -> bool:
        status = await self._query(
            "execute", "UPDATE motia_state SET expires_at = now() + make_interval(secs => $5::float8) "
            f"WHERE {_KEY} AND value = $4 AND {_LIVE}",
            self.namespace, group, key, value, ttl,
        )
        return bool(status != "UPDATE 0")

    async def _sweep(self) -> None:
        """Delete expired rows now and then, so idempotency marks do not pile up forever."""
        now = time.monotonic()
        if self._last_sweep and now - self._last_sweep < SWEEP_EVERY:
            return
        self._last_sweep = now
        await self._query(
            "execute", "DELETE FROM motia_state WHERE namespace = $1 AND expires_at <= now()",
            self.namespace,
        )
