"""The state store contract: shared JSON state, dead letters, leases and idempotency marks.

`StateStore` owns everything users see (JSON encoding, argument checks, the reserved
namespace, dead-letter records, leases); a backend fills in a handful of primitives on
JSON *text*. A new backend is a short file; tests/runner/state/test_contract.py runs the
same suite against every backend.

Groups whose name starts with `__motia.` are reserved for the runtime (dead letters,
cron leases, idempotency marks, delayed events); users cannot read or write them through
the public API.

Leases carry an owner token: only the holder may renew or release one (compare-and-set,
compare-and-delete), so a slow first holder whose lease ran out can never free or extend
the lease a second holder took meanwhile.
"""

from __future__ import annotations

import asyncio
import builtins
import heapq
import json
import math
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Self

from motia.errors import StateError
from motia.runner.state import _paging
from motia.runner.state._update import Op, apply_text, parse_ops
from motia.runner.state._update import encode as _encode

RESERVED_PREFIX = "__motia."
DLQ_GROUP = "__motia.dlq"
LEASE_GROUP = "__motia.lease"
DONE_GROUP = "__motia.done"
ANSWER_GROUP = "__motia.answers"
FLOW_GROUP = "__motia.flow"
#: delayed events until due (runner/bus/delayed.py): key `<due ms>.<event id>`, the event
DELAYED_GROUP = "__motia.delayed"
#: each replica's waiting flow-control events (delivery/flow/gauge.py): key
#: `<replica>.<generation>`, a short TTL, so a dead replica's entry vanishes by itself
WAITING_GROUP = "__motia.flow.waiting"

Number = int | float
#: longest group name and key, in UTF-8 bytes (a key is part of a database index entry)
MAX_GROUP_BYTES = 256
MAX_KEY_BYTES = 1024


@dataclass(frozen=True)
class DeadLetter:
    """An event a step gave up on after its last retry, kept until replayed."""

    step: str
    topic: str
    data: Any
    event_id: str
    trace_id: str
    attempts: int
    error: dict[str, Any]  # {"type", "message", "traceback"}
    time: float = field(default_factory=time.time)
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    #: a message the runtime could not read: {"body", "encoding": "utf-8"|"base64",
    #: "size", "truncated", "headers", "routing_key"}; None for an event it could read
    raw: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> DeadLetter:
        return cls(**{k: v for k, v in raw.items() if k in cls.__dataclass_fields__})


class StateStore(ABC):
    """Shared state for one app. Backends implement the `_primitives`; callers use the rest."""

    #: short name used by --state and in messages ("memory", "sqlite", "redis", "postgres")
    kind: str = ""

    def __init__(self, namespace: str) -> None:
        # The namespace (the app name) lets several apps share one Redis or database.
        self.namespace = namespace

    # --- lifecycle -------------------------------------------------------------------

    async def open(self) -> None:
        """Connect; raise AdapterUnavailable with the URL and the fix when unreachable."""

    async def close(self) -> None:
        """Release connections; safe to call twice."""

    async def ping(self) -> None:
        """Check that the store answers now (the readiness probe asks); raise
        AdapterUnavailable naming the service and the fix when it does not. Networked
        backends round-trip to their server; the in-memory store is always there."""

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- public state API (ctx.state) ------------------------------------------------

    # Reads of a name no store can keep (see `_storable`) find nothing rather than fail:
    # such a key cannot exist, and a handler looking up a client's id gets its 404.
    # Writes refuse it with the StateError.

    async def get(self, group: str, key: str) -> Any:
        try:
            group, key = _group(group), _key(key)
        except _Unstorable:
            return None
        raw = await self._get(group, key)
        return None if raw is None else json.loads(raw)

    async def set(self, group: str, key: str, value: Any) -> Any:
        await self._set(_group(group), _key(key), _encode(value))
        return value

    async def delete(self, group: str, key: str) -> None:
        try:
            group, key = _group(group), _key(key)
        except _Unstorable:
            return
        await self._delete(group, key)

    async def get_group(self, group: str) -> dict[str, Any]:
        try:
            group = _group(group)
        except _Unstorable:
            return {}
        return {k: json.loads(v) for k, v in (await self._items(group)).items()}

    async def clear(self, group: str) -> None:
        try:
            group = _group(group)
        except _Unstorable:
            return
        await self._clear(group)

    async def incr(self, group: str, key: str, by: Number = 1) -> Number:
        if isinstance(by, bool) or not isinstance(by, int | float) or not math.isfinite(by):
            raise StateError(f"incr by {by!r}: expected a finite number")
        return await self._incr(_group(group), _key(key), by)

    async def update(self, group: str, key: str, ops: Sequence[dict[str, Any]]) -> Any:
        """Apply `ops` (see _update.py) to the value atomically; the new value (None when
        the ops removed the key). Nothing is written when an op fails (StateError)."""
        group, key, checked = _group(group), _key(key), parse_ops(ops)
        if not checked:
            raw = await self._get(group, key)
        else:
            raw = await self._update(group, key, checked)
        return None if raw is None else json.loads(raw)

    async def list(self, group: str, prefix: str | None = None,
                   limit: int = _paging.DEFAULT_LIMIT, cursor: str | None = None
                   ) -> dict[str, Any]:
        """One page of `group` in key order: `{"items": [{"key", "value"}], "cursor"}`;
        pass `cursor` back for the next page (it is None after the last one)."""
        start, count = _paging.check_prefix(prefix), _paging.check_limit(limit)
        after = _paging.decode_cursor(cursor)
        try:
            group = _group(group)
        except _Unstorable:
            return _paging.page([], count, json.loads)
        rows = await self._page(group, after, start, count + 1)
        return _paging.page(rows, count, json.loads)

    async def groups(self) -> builtins.list[str]:
        """User groups that hold at least one key, sorted (for `motia state ls`)."""
        return sorted(g for g in await self._groups() if not g.startswith(RESERVED_PREFIX))

    # --- dead letters -----------------------------------------------------------------

    async def add_dead_letter(self, letter: DeadLetter) -> None:
        await self._set(DLQ_GROUP, letter.id, _encode(letter.to_dict()))

    async def dead_letters(self, step: str | None = None) -> builtins.list[DeadLetter]:
        letters = [DeadLetter.from_dict(json.loads(v)) for v in (await self._items(DLQ_GROUP)).values()]
        return sorted((d for d in letters if step is None or d.step == step), key=lambda d: d.time)

    async def take_dead_letter(self, letter_id: str) -> DeadLetter | None:
        """Remove and return a dead letter (to replay it); None when it is not there.

        Atomic: when two replicas replay the same letter, only one of them gets it."""
        raw = await self._take(DLQ_GROUP, letter_id)
        return None if raw is None else DeadLetter.from_dict(json.loads(raw))

    # --- leases and idempotency marks ---------------------------------------------------

    async def acquire_lease(self, name: str, ttl: float, owner: str = "") -> bool:
        """True for exactly one caller per `name` until `ttl` seconds pass (cron ticks,
        run claims); `owner` is the token `renew_lease` and `release_lease` check."""
        return await self._add_if_absent(LEASE_GROUP, name, _encode(owner), _ttl(ttl))

    async def renew_lease(self, name: str, owner: str, ttl: float) -> bool:
        """Extend `owner`'s lease to `ttl` seconds from now; False when it is not theirs
        (it expired, and another owner may hold it now)."""
        return await self._renew_if(LEASE_GROUP, name, _encode(owner), _ttl(ttl))

    async def release_lease(self, name: str, owner: str) -> bool:
        """Give a lease up before its TTL, only if `owner` still holds it (compare-and-
        delete); False when it had expired or belongs to another owner, who keeps it."""
        return await self._delete_if(LEASE_GROUP, name, _encode(owner))

    async def mark_done(self, key: str, ttl: float) -> bool:
        """Record that `key` (e.g. step + event id) completed; False if it already had."""
        return await self._add_if_absent(DONE_GROUP, key, "true", _ttl(ttl))

    async def is_done(self, key: str) -> bool:
        return await self._get(DONE_GROUP, key) is not None

    async def save_answer(self, key: str, answer: dict[str, Any], ttl: float) -> bool:
        """Keep the response an API step gave for an idempotency key, for `ttl` seconds;
        False when an answer was already kept (the first one stays)."""
        return await self._add_if_absent(ANSWER_GROUP, key, _encode(answer), _ttl(ttl))

    async def answer(self, key: str) -> dict[str, Any] | None:
        """The response kept for an idempotency key, or None."""
        raw = await self._get(ANSWER_GROUP, key)
        return None if raw is None else dict(json.loads(raw))

    # --- flow control -------------------------------------------------------------------

    async def count_in_window(self, name: str, ttl: float, by: int = 1) -> int:
        """Add `by` (at least 1) to the counter `name` and return it; a counter that does
        not exist (or ran out) starts from 0 and lives `ttl` seconds from then, so each
        window of a rate limit is one counter that cleans itself up."""
        if isinstance(by, bool) or not isinstance(by, int) or by < 1:
            raise StateError(f"count by {by!r}: expected a whole number of at least 1")
        return await self._count_expiring(FLOW_GROUP, name, _ttl(ttl), by)

    async def flow_get(self, name: str) -> Any:
        """The value flow control keeps under `name` (order's next number per key, the
        latest number of a sequence), or None."""
        raw = await self._get(FLOW_GROUP, name)
        return None if raw is None else json.loads(raw)

    async def flow_set(self, name: str, value: Any) -> None:
        """Keep `value` under `name` (the caller holds the key's lock)."""
        await self._set(FLOW_GROUP, name, _encode(value))

    async def flow_sequence(self, name: str) -> int:
        """The next number (1, 2, ...) of the sequence `name`, atomically across replicas."""
        return int(await self._incr(FLOW_GROUP, name, 1))

    async def put_gauge(self, replica: str, generation: int, value: Any, ttl: float) -> None:
        """Publish `replica`'s gauge `value` for `ttl` seconds as its `generation`-th entry,
        then drop the previous one: a reader never finds the replica without an entry while
        it is alive (`gauges` keeps the newest generation when it sees both)."""
        new = f"{_key(replica)}.{generation:012d}"
        await self._add_if_absent(WAITING_GROUP, new, _encode(value), _ttl(ttl))
        if generation > 0:
            await self._delete(WAITING_GROUP, f"{replica}.{generation - 1:012d}")

    async def drop_gauge(self, replica: str, generation: int) -> None:
        """Remove `replica`'s entry now (it stops, or it has nothing to report)."""
        await self._delete(WAITING_GROUP, f"{_key(replica)}.{generation:012d}")

    async def gauges(self) -> dict[str, Any]:
        """replica -> its newest live gauge value (expired entries are gone by themselves)."""
        newest: dict[str, tuple[str, str]] = {}
        for key, raw in (await self._items(WAITING_GROUP)).items():
            replica, _, generation = key.rpartition(".")
            if replica not in newest or generation > newest[replica][0]:
                newest[replica] = (generation, raw)
        return {replica: json.loads(raw) for replica, (_, raw) in newest.items()}

    # --- primitives a backend implements (JSON text in and out) -------------------------

    @abstractmethod
    async def _get(self, group: str, key: str) -> str | None: ...

    @abstractmethod
    async def _set(self, group: str, key: str, value: str) -> None: ...

    @abstractmethod
    async def _delete(self, group: str, key: str) -> None: ...

    @abstractmethod
    async def _items(self, group: str) -> dict[str, str]: ...

    @abstractmethod
    async def _clear(self, group: str) -> None: ...

    @abstractmethod
    async def _incr(self, group: str, key: str, by: Number) -> Number:
        """Atomically add `by` (missing counts as 0); StateError if the value is not a number."""

    @abstractmethod
    async def _groups(self) -> builtins.list[str]: ...

    async def _update(self, group: str, key: str, ops: tuple[Op, ...]) -> str | None:
        """Apply checked `ops` atomically; the new text (None: the key is gone). The
        default runs the shared Python semantics inside the backend's `_modify`."""
        return await self._modify(group, key, lambda raw: apply_text(group, key, ops, raw))

    async def _modify(
        self, group: str, key: str, change: Callable[[str | None], str | None]
    ) -> str | None:
        """Atomically replace the text of `group/key` by `change(current)` (None: missing
        / delete it) and return the new text; `change` may raise, and then nothing is
        written. Every backend that does not override `_update` implements this."""
        raise NotImplementedError(f"the {self.kind} store implements neither _update nor _modify")

    async def _page(
        self, group: str, after: str | None, prefix: str, count: int
    ) -> builtins.list[tuple[str, str]]:
        """Up to `count` (key, text) pairs of `group` in key order, keys after `after` and
        starting with `prefix`. This default reads the whole group; backends that can
        seek to a key override it."""
        items = await self._items(group)
        keys = heapq.nsmallest(count, (k for k in items if k.startswith(prefix)
                                       and (after is None or k > after)))
        return [(k, items[k]) for k in keys]

    async def _delete_many(self, group: str, keys: Sequence[str]) -> None:
        """Delete several keys of one group (the delayed events a batch published). This
        default deletes them one by one, concurrently; SQL backends use one statement."""
        if keys:
            await asyncio.gather(*(self._delete(group, key) for key in keys))

    async def _take(self, group: str, key: str) -> str | None:
        """Delete and return a value in one step; backends shared across processes override
        this with an atomic version (this default is atomic only within one event loop)."""
        raw = await self._get(group, key)
        if raw is not None:
            await self._delete(group, key)
        return raw

    @abstractmethod
    async def _add_if_absent(self, group: str, key: str, value: str, ttl: float | None) -> bool:
        """Set only if absent or expired; True when this call set it. Expiry after `ttl` s."""

    @abstractmethod
    async def _count_expiring(self, group: str, key: str, ttl: float, by: int) -> int:
        """Add `by` to an integer entry; a missing or expired one becomes `by`, expiring
        `ttl` s from now (a live one keeps its expiry). The new count."""

    # Owner-checked primitives of leases: atomic compare-then-act on one live entry.

    @abstractmethod
    async def _delete_if(self, group: str, key: str, value: str) -> bool:
        """Delete the entry only if it is live and holds exactly `value`; True if deleted."""

    @abstractmethod
    async def _renew_if(self, group: str, key: str, value: str, ttl: float) -> bool:
        """Make a live entry holding exactly `value` expire `ttl` s from now; True if so."""


def _group(group: object) -> str:
    if not isinstance(group, str) or not group:
        raise StateError(f"state group {group!r}: expected a non-empty string")
    if group.startswith(RESERVED_PREFIX):
        raise StateError(f"state group {group!r}: names starting with {RESERVED_PREFIX!r} are reserved")
    return _storable("group", group, MAX_GROUP_BYTES)


def _key(key: object) -> str:
    if not isinstance(key, str) or not key:
        raise StateError(f"state key {key!r}: expected a non-empty string")
    return _storable("key", key, MAX_KEY_BYTES)


class _Unstorable(StateError):
    """Raised for a group or key name that no store can keep (NUL, lone surrogate, length)."""


def _storable(what: str, name: str, limit: int) -> str:
    """`name` if every store can keep it as it is; the same refusal on every store.

    PostgreSQL text cannot hold NUL, and no UTF-8 column or Redis key can hold a lone
    surrogate; rather than encode them into something other tools would show mangled,
    writes refuse such names (and reads find nothing under them). Values may contain
    both: they are kept as JSON text, where they are escapes."""
    try:
        size = len(name.encode())
    except UnicodeEncodeError as exc:
        raise _Unstorable(f"state {what} {name!r}: is not valid Unicode (a lone surrogate at "
                         f"index {exc.start}); use a key of real characters") from None
    if "\x00" in name:
        raise _Unstorable(f"state {what} {name!r}: contains a NUL character, which the stores "
                         "cannot keep; leave it out or encode the name (e.g. hex)")
    if size > limit:
        raise _Unstorable(f"state {what} of {size} bytes is longer than the limit of {limit} "
                         "bytes (UTF-8); use a shorter one, e.g. a hash of it")
    return name


def _ttl(ttl: object) -> float:
    if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not 0 < ttl < math.inf:
        raise StateError(f"ttl {ttl!r}: expected a positive number of seconds")
    return float(ttl)

