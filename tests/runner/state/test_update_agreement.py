"""The Redis Lua port of `state.update` agrees with the Python semantics, byte for byte.

Memory, SQLite and PostgreSQL run _update.py; Redis runs the Lua port in
_redis_update.py on the server. Hypothesis generates values and op lists (paths that hit
and miss, arrays and objects, empty ones, big integers, floats of every magnitude, text
with escapes) and each example must give the same stored text, or the same StateError
with nothing written. cjson's traps are covered on purpose: `[]` vs `{}`, key order, and
number formatting (the Lua side writes floats the way Python's repr does; every power of
two is checked, where the shortest round-trip digits are hardest to get right).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from _state_backends import SERVICES, _purge_redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from motia.errors import StateError
from motia.runner.state._update import apply_text, parse_ops
from motia.runner.state.redis import RedisStore

NAMES = ["a", "b", "0", "1", "x.y", ""]  # "" and "x.y" only reachable in list-form paths


@pytest.fixture(scope="module")
def redis_store() -> Iterator[tuple[asyncio.AbstractEventLoop, RedisStore]]:
    """One store on the real Redis for every example (its own namespace, purged after)."""
    SERVICES.require_service("redis")
    loop = asyncio.new_event_loop()
    namespace = f"agree{uuid.uuid4().hex[:10]}"
    store = RedisStore(namespace, SERVICES.REDIS_URL)
    loop.run_until_complete(store.open())
    try:
        yield loop, store
    finally:
        loop.run_until_complete(store.close())
        loop.run_until_complete(_purge_redis({namespace}))
        loop.close()


def _floats() -> st.SearchStrategy[float]:
    return st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from(
        [0.1, 0.2, -0.0, 1e16, 1e15, 1e-4, 1e-5, 5e-324, 1.7976931348623157e308, 2.5, 1e22])


_ints = st.integers(-(2**70), 2**70) | st.integers(-1000, 1000)
_scalars = st.none() | st.booleans() | _ints | _floats() | st.text(max_size=6)
_json = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.sampled_from(NAMES), inner, max_size=3),
    max_leaves=8,
)
_segments = st.lists(st.sampled_from(NAMES), max_size=3)
_paths = _segments.map(lambda s: s if ("" in s or any("." in x for x in s)) else ".".join(s)) | _segments
_numbers = _ints | _floats()
_ops = st.lists(
    st.one_of(
        st.builds(lambda p, v: {"set": p, "value": v}, _paths, _json),
        st.builds(lambda p, v: {"merge": p, "value": v}, _paths,
                  st.dictionaries(st.sampled_from(NAMES), _json, max_size=3)),
        st.builds(lambda p, n: {"increment": p, "by": n}, _paths, _numbers),
        st.builds(lambda p: {"increment": p}, _paths),
        st.builds(lambda p, v: {"append": p, "value": v}, _paths, _json),
        st.builds(lambda p: {"remove": p}, _paths),
    ),
    min_size=1, max_size=5,
)
_start = st.none() | _json  # None: the key does not exist


def _python(start: str | None, ops: list[dict[str, Any]]) -> tuple[str, str | None]:
    try:
        return "ok", apply_text("g", "k", parse_ops(ops), start)
    except StateError as exc:
        return "error", str(exc)


async def _lua(store: RedisStore, start: str | None, ops: list[dict[str, Any]]
               ) -> tuple[tuple[str, str | None], str | None]:
    """(outcome, stored text afterwards) of the Lua port."""
    key = uuid.uuid4().hex
    if start is not None:
        await store._set("g", key, start)
    try:
        outcome: tuple[str, str | None] = ("ok", await store._update("g", key, parse_ops(ops)))
    except StateError as exc:
        outcome = ("error", str(exc).replace(f"g/{key}:", "g/k:"))
    stored = await store._get("g", key)
    await store._delete("g", key)
    return outcome, stored


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(start=_start, ops=_ops)
def test_lua_and_python_agree_on_generated_values_and_ops(
    redis_store: tuple[asyncio.AbstractEventLoop, RedisStore], start: Any, ops: list[Any]
) -> None:
    # Given a stored value (or none) and a list of ops
    loop, store = redis_store
    text = None if start is None else json.dumps(start, separators=(",", ":"))
    # When Python and the Lua port apply them
    expected = _python(text, ops)
    got, stored = loop.run_until_complete(_lua(store, text, ops))
    # Then both give the same text or the same error, and a failure wrote nothing
    assert got == expected
    assert stored == (expected[1] if expected[0] == "ok" else text)


def test_every_power_of_two_is_written_as_python_writes_it(
    redis_store: tuple[asyncio.AbstractEventLoop, RedisStore],
) -> None:
    # Given every power of two a double holds (subnormals included), stored as Python
    # writes them, each incremented by 0.0 on Redis (Lua reads, adds and re-writes it)
    loop, store = redis_store
    values = [2.0**e for e in range(-1074, 1024)] + [-(2.0**e) for e in range(-1074, 1024, 37)]

    async def run() -> list[str | None]:
        group = {f"p{i}": json.dumps({"n": v}, separators=(",", ":")) for i, v in enumerate(values)}
        results = []
        for key, text in group.items():
            await store._set("pow", key, text)
            results.append(await store._update("pow", key, parse_ops([{"increment": "n",
                                                                         "by": 0.0}])))
        await store._clear("pow")
        return results

    got = loop.run_until_complete(run())
    # Then every one is written with Python's repr, digit for digit
    mismatches = [(v, t) for v, t in zip(values, got, strict=True)
                  if t != json.dumps({"n": v + 0.0}, separators=(",", ":"))]
    assert mismatches == []


@pytest.mark.parametrize(("start", "ops", "text"), [
    # cjson would write [] as {} and reorder keys; the port keeps both
    ({"z": [], "a": {}, "m": 1}, [{"increment": "m"}], '{"z":[],"a":{},"m":2}'),
    # integers beyond 2**53 stay exact; beyond 2**64 too
    ({"n": 2**64}, [{"increment": "n", "by": 2**64}], '{"n":36893488147419103232}'),
    ({"n": -(2**70)}, [{"increment": "n", "by": 2**70 - 1}], '{"n":-1}'),
    # floats: shortest repr, Python's exponent style
    (None, [{"increment": "f", "by": 0.1}, {"increment": "f", "by": 0.2}],
     '{"f":0.30000000000000004}'),
    ({"f": 1e15}, [{"increment": "f", "by": 9e15}], '{"f":1e+16}'),
    ({"f": 1}, [{"increment": "f", "by": 1e-05}], '{"f":1.00001}'),
    ({"f": 0}, [{"increment": "f", "by": 1e-05}], '{"f":1e-05}'),
    ({"f": 2}, [{"increment": "f", "by": 2.0}], '{"f":4.0}'),
    # escapes and non-ASCII in keys and values pass through untouched
    ({"é\"\\": "\u2028\ud83d\ude80"}, [{"set": ["é\"\\"], "value": "ok"}],
     '{"\\u00e9\\"\\\\":"ok"}'),
])
def test_known_traps_give_python_s_text_on_redis(
    redis_store: tuple[asyncio.AbstractEventLoop, RedisStore], start: Any, ops: list[Any],
    text: str,
) -> None:
    loop, store = redis_store
    initial = None if start is None else json.dumps(start, separators=(",", ":"))
    assert _python(initial, ops) == ("ok", text)
    assert loop.run_until_complete(_lua(store, initial, ops)) == (("ok", text), text)
