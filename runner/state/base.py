"""The state store contract: shared JSON state, dead letters, leases and idempotency marks.

`StateStore` owns everything users see (JSON encoding, argument checks, the reserved
namespace, dead-letter records, leases); a backend fills in a handful of primitives on
JSON *text*. A new backend is a short file; tests/runner/state/test_contract.py runs the
same suite against every backend.

Groups whose name starts with `__motia.` are reserved for the runtime (dead letters,
cron leases, idempotency marks); users cannot read or write them through the public API.

Leases carry an owner token: only the holder may renew or release one (compare-and-set,
compare-and-delete), so a slow first holder whose lease ran out can never free or extend
the lease a second holder took meanwhile.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from typing import Any, Self

from motia.errors import StateError

RESERVED_PREFIX = "__motia."
DLQ_GROUP = "__motia.dlq"
LEASE_GROUP = "__motia.lease"
DONE_GROUP = "__motia.done"
ANSWER_GROUP = "__motia.answers"

Number = int | float


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

    async def get(self, group: str, key: str) -> Any:
        raw = await self._get(_group(group), _key(key))
        return None if raw is None else json.loads(raw)

    async def set(self, group: str, key: str, value: Any) -> Any:
        await self._set(_group(group), _key(key), _encode(value))
        return value

    async def delete(self, group: str, key: str) -> None:
        await self._delete(_group(group), _key(key))

    async def get_group(self, group: str) -> dict[str, Any]:
        return {k: json.loads(v) for k, v in (await self._items(_group(group))).items()}

    async def clear(self, group: str) -> None:
        await self._clear(_group(group))

    async def incr(self, group: str, key: str, by: Number = 1) -> Number:
        if isinstance(by, bool) or not isinstance(by, int | float) or not math.isfinite(by):
            raise StateError(f"incr by {by!r}: expected a finite number")
        return await self._incr(_group(group), _key(key), by)

    async def groups(self) -> list[str]:
        """User groups that hold at least one key, sorted (for `motia state ls`)."""
        return sorted(g for g in await self._groups() if not g.startswith(RESERVED_PREFIX))

    # --- dead letters -----------------------------------------------------------------

    async def add_dead_letter(self, letter: DeadLetter) -> None:
        await self._set(DLQ_GROUP, letter.id, _encode(letter.to_dict()))

    async def dead_letters(self, step: str | None = None) -> list[DeadLetter]:
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
    async def _groups(self) -> list[str]: ...

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
    return group


def _key(key: object) -> str:
    if not isinstance(key, str) or not key:
        raise StateError(f"state key {key!r}: expected a non-empty string")
    return key


def _ttl(ttl: object) -> float:
    if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not 0 < ttl < math.inf:
        raise StateError(f"ttl {ttl!r}: expected a positive number of seconds")
    return float(ttl)


def _encode(value: Any) -> str:
    try:
        return json.dumps(value, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise StateError(f"state value is not JSON: {exc}") from None
