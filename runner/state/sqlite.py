"""The SQLite state store: the embedded default, one file under <project>/.motia/state.db.

Safe for several processes on one machine sharing the file: WAL mode lets readers run
beside the writer, `busy_timeout` makes a writer wait for the lock instead of failing,
and every read-modify-write (`incr`) runs in a `BEGIN IMMEDIATE` transaction, which
takes the write lock before reading. Single-statement operations (set, add-if-absent,
take) are atomic by themselves.

sqlite3 blocks, so each store owns one connection used only from one dedicated thread;
the event loop hands it work through a one-thread executor. Calls from one store are
therefore serialised (SQLite allows one writer at a time anyway) and never block the
loop. Expiry is an epoch-seconds column compared with this machine's clock, which every
process sharing the file also uses.
"""

from __future__ import annotations

import asyncio
import json
import math
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from motia.errors import AdapterUnavailable, StateError
from motia.runner.state._paging import key_bounds
from motia.runner.state.base import Number, StateStore

T = TypeVar("T")

BUSY_TIMEOUT_MS = 5000
#: how often (seconds) add-if-absent also deletes this namespace's expired rows
SWEEP_EVERY = 60.0

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS motia_state (
        namespace TEXT NOT NULL,
        grp TEXT NOT NULL,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        expires_at REAL,
        PRIMARY KEY (namespace, grp, key)
    ) WITHOUT ROWID""",
    """CREATE INDEX IF NOT EXISTS motia_state_expiry
        ON motia_state (namespace, expires_at) WHERE expires_at IS NOT NULL""",
)
_WHERE_KEY = "namespace = ? AND grp = ? AND key = ?"
_LIVE = "(expires_at IS NULL OR expires_at > ?)"
_UPSERT = (
    "INSERT INTO motia_state (namespace, grp, key, value, expires_at) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (namespace, grp, key) DO UPDATE "
    "SET value = excluded.value, expires_at = excluded.expires_at"
)

# One statement (atomic): a live counter counts up and keeps its expiry, a missing or
# expired one starts again at 1 with a new one.
_COUNT = (
    "INSERT INTO motia_state (namespace, grp, key, value, expires_at) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (namespace, grp, key) DO UPDATE SET "
    "value = CASE WHEN motia_state.expires_at <= ? THEN excluded.value "
    "ELSE CAST(CAST(motia_state.value AS INTEGER) + CAST(excluded.value AS INTEGER) AS TEXT) END, "
    "expires_at = CASE WHEN motia_state.expires_at <= ? THEN excluded.expires_at "
    "ELSE motia_state.expires_at END RETURNING value"
)


class SQLiteStore(StateStore):
    """State in one SQLite file; `path` is created (with its folder) on open()."""

    kind = "sqlite"

    def __init__(self, namespace: str, path: str | Path) -> None:
        super().__init__(namespace)
        self.path = Path(path)
        self._conn: sqlite3.Connection | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._last_sweep = 0.0

    # --- lifecycle ----------------------------------------------------------------------

    async def open(self) -> None:
        if self._executor is not None:
            return
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="motia-sqlite")
        try:
            self._conn = await self._call(self._connect)
        except BaseException:
            self._executor.shutdown(wait=False)
            self._executor = None
            raise

    async def close(self) -> None:
        executor, self._executor = self._executor, None
        if executor is None:
            return
        conn, self._conn = self._conn, None
        if conn is not None:
            await asyncio.get_running_loop().run_in_executor(executor, conn.close)
        executor.shutdown(wait=True)

    async def ping(self) -> None:
        await self._call(self._ping_sync)

    def _ping_sync(self) -> None:
        self._db().execute("SELECT 1").fetchone()

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: autocommit, so transactions are exactly the ones we BEGIN.
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA journal_mode = WAL")
            # NORMAL in WAL mode: a commit survives a crash of the process, not of the OS.
            conn.execute("PRAGMA synchronous = NORMAL")
            for statement in _SCHEMA:
                conn.execute(statement)
        except BaseException:
            conn.close()
            raise
        return conn

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(*args)` on the store's thread; turn sqlite errors into Motia errors."""
        if self._executor is None:
            raise StateError(f"the sqlite state store at {self.path} is not open; call open() first")
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)
        except (sqlite3.Error, OSError) as exc:
            raise AdapterUnavailable(
                f"SQLite state store at {self.path}: {exc}; check that the file and its folder "
                "are writable, or pass --state-url / MOTIA_STATE_URL"
            ) from exc

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StateError(f"the sqlite state store at {self.path} is not open; call open() first")
        return self._conn

    # --- primitives -----------------------------------------------------------------------

    async def _get(self, group: str, key: str) -> str | None:
        return await self._call(self._get_sync, group, key)

    def _get_sync(self, group: str, key: str) -> str | None:
        row = self._db().execute(
            f"SELECT value FROM motia_state WHERE {_WHERE_KEY} AND {_LIVE}",
            (self.namespace, group, key, time.time()),
        ).fetchone()
        return None if row is None else str(row[0])

    async def _set(self, group: str, key: str, value: str) -> None:
        await self._call(self._execute, _UPSERT, (self.namespace, group, key, value, None))

    async def _delete(self, group: str, key: str) -> None:
        await self._call(
            self._execute, f"DELETE FROM motia_state WHERE {_WHERE_KEY}", (self.namespace, group, key)
        )

    async def _delete_many(self, group: str, keys: Sequence[str]) -> None:
        await self._call(self._delete_many_sync, group, list(keys))

    def _delete_many_sync(self, group: str, keys: list[str]) -> None:
        conn = self._db()
        conn.execute("BEGIN IMMEDIATE")  # one commit for the lot
        try:
            conn.executemany(f"DELETE FROM motia_state WHERE {_WHERE_KEY}",
                             [(self.namespace, group, key) for key in keys])
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    async def _items(self, group: str) -> dict[str, str]:
        return await self._call(self._items_sync, group)

    def _items_sync(self, group: str) -> dict[str, str]:
        rows = self._db().execute(
            f"SELECT key, value FROM motia_state WHERE namespace = ? AND grp = ? AND {_LIVE} "
            "ORDER BY key",
            (self.namespace, group, time.time()),
        )
        return {str(k): str(v) for k, v in rows}

    async def _clear(self, group: str) -> None:
        await self._call(
            self._execute, "DELETE FROM motia_state WHERE namespace = ? AND grp = ?",
            (self.namespace, group),
        )

    async def _groups(self) -> list[str]:
        return await self._call(self._groups_sync)

    def _groups_sync(self) -> list[str]:
        rows = self._db().execute(
            f"SELECT DISTINCT grp FROM motia_state WHERE namespace = ? AND {_LIVE}",
            (self.namespace, time.time()),
        )
        return [str(g) for (g,) in rows]

    async def _take(self, group: str, key: str) -> str | None:
        return await self._call(self._take_sync, group, key)

    def _take_sync(self, group: str, key: str) -> str | None:
        row = self._db().execute(
            f"DELETE FROM motia_state WHERE {_WHERE_KEY} RETURNING value, expires_at",
            (self.namespace, group, key),
        ).fetchone()
        if row is None or (row[1] is not None and row[1] <= time.time()):
            return None
        return str(row[0])

    async def _incr(self, group: str, key: str, by: Number) -> Number:
        return await self._call(self._incr_sync, group, key, by)

    def _incr_sync(self, group: str, key: str, by: Number) -> Number:
        conn = self._db()
        # IMMEDIATE takes the write lock before the read, so no other process can
        # change the value between our SELECT and our UPSERT.
        conn.execute("BEGIN IMMEDIATE")
        try:
            current = self._get_sync(group, key)
            value = _add(group, key, 0 if current is None else json.loads(current), by)
            conn.execute(_UPSERT, (self.namespace, group, key, json.dumps(value), None))
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return value

    async def _modify(
        self, group: str, key: str, change: Callable[[str | None], str | None]
    ) -> str | None:
        return await self._call(self._modify_sync, group, key, change)

    def _modify_sync(
        self, group: str, key: str, change: Callable[[str | None], str | None]
    ) -> str | None:
        conn = self._db()
        conn.execute("BEGIN IMMEDIATE")  # the write lock first, as in _incr_sync
        try:
            new = change(self._get_sync(group, key))
            if new is None:
                self._execute(f"DELETE FROM motia_state WHERE {_WHERE_KEY}",
                              (self.namespace, group, key))
            else:
                conn.execute(_UPSERT, (self.namespace, group, key, new, None))
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return new

    async def _page(
        self, group: str, after: str | None, prefix: str, count: int
    ) -> list[tuple[str, str]]:
        return await self._call(self._page_sync, group, after, prefix, count)

    def _page_sync(
        self, group: str, after: str | None, prefix: str, count: int
    ) -> list[tuple[str, str]]:
        # BINARY collation compares UTF-8 bytes: code point order, and the primary key's.
        bounds = key_bounds(after, prefix)
        where = "".join(f" AND key {op} ?" for op, _ in bounds)
        rows = self._db().execute(
            f"SELECT key, value FROM motia_state WHERE namespace = ? AND grp = ? AND {_LIVE}"
            f"{where} ORDER BY key LIMIT ?",
            (self.namespace, group, time.time(), *(key for _, key in bounds), count),
        )
        return [(str(k), str(v)) for k, v in rows]

    async def _add_if_absent(self, group: str, key: str, value: str, ttl: float | None) -> bool:
        return await self._call(self._add_if_absent_sync, group, key, value, ttl)

    def _add_if_absent_sync(self, group: str, key: str, value: str, ttl: float | None) -> bool:
        now = time.time()
        self._sweep(now)
        row = self._db().execute(
            _UPSERT + " WHERE motia_state.expires_at IS NOT NULL AND motia_state.expires_at <= ? "
            "RETURNING 1",
            (self.namespace, group, key, value, None if ttl is None else now + ttl, now),
        ).fetchone()
        return row is not None

    async def _count_expiring(self, group: str, key: str, ttl: float, by: int) -> int:
        now = time.time()
        row = await self._call(lambda: self._db().execute(_COUNT, (
            self.namespace, group, key, str(by), now + ttl, now, now)).fetchone())
        return int(row[0])

    async def _delete_if(self, group: str, key: str, value: str) -> bool:
        return await self._call(self._changed, f"DELETE FROM motia_state WHERE {_WHERE_KEY} "
                                f"AND value = ? AND {_LIVE}",
                                (self.namespace, group, key, value, time.time()))

    async def _renew_if(self, group: str, key: str, value: str, ttl: float) -> bool:
        now = time.time()
        return await self._call(self._changed, "UPDATE motia_state SET expires_at = ? "
                                f"WHERE {_WHERE_KEY} AND value = ? AND {_LIVE}",
                                (now + ttl, self.namespace, group, key, value, now))

    def _changed(self, sql: str, params: tuple[Any, ...]) -> bool:
        """Run one statement; True when it touched a row (one statement: atomic)."""
        return self._db().execute(sql, params).rowcount > 0

    def _sweep(self, now: float) -> None:
        """Delete expired rows now and then, so idempotency marks do not pile up forever."""
        if now - self._last_sweep < SWEEP_EVERY:
            return
        self._last_sweep = now
        self._execute(
            "DELETE FROM motia_state WHERE namespace = ? AND expires_at <= ?", (self.namespace, now)
        )

    def _execute(self, sql: str, params: tuple[Any, ...]) -> None:
        self._db().execute(sql, params)


def _add(group: str, key: str, current: Any, by: Number) -> Number:
    """`current + by` with the store's number rules (JSON numbers only, finite results)."""
    if isinstance(current, bool) or not isinstance(current, int | float):
        raise StateError(f"incr {group}/{key}: the value {current!r} is not a number")
    value = current + by
    if not math.isfinite(value):
        raise StateError(f"incr {group}/{key}: the result is out of range")
    return value
