"""The state store contract: the same tests, every backend (memory, sqlite, redis, postgres).

A backend passes when users cannot tell it from another: same values back, same errors,
same atomicity. Tests that need two instances sharing data skip for `memory`, whose
data lives in one object by design.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest
from _state_backends import Backend

from motia.errors import StateError
from motia.runner.state.base import DeadLetter, StateStore

VALUES: list[Any] = [
    "text",
    "",
    "ünïcödé ✓ 🚀 \u2028 \"quoted\" \\ back",
    0,
    -17,
    2**62,
    10**30,
    1.5,
    -0.25,
    0.1 + 0.2,
    1e300,
    2.0,
    True,
    False,
    [],
    {},
    [1, "two", 3.0, None, [4, {"five": 5}]],
    {"z": 1, "a": {"nested": [True, None, {"deep": "é"}]}, "m": 2.5},
]


def _shared_only(backend: Backend) -> None:
    if not backend.shared:
        pytest.skip(f"{backend.kind} stores do not share data between instances")


def _letter(step: str, time: float, topic: str = "order.created") -> DeadLetter:
    return DeadLetter(
        step=step, topic=topic, data={"id": 1}, event_id=f"ev-{step}-{time}", trace_id="tr",
        attempts=3, error={"type": "ValueError", "message": "boom", "traceback": ""}, time=time,
    )


# --- get / set / delete ---------------------------------------------------------------------


async def test_an_open_store_answers_the_readiness_ping(store: StateStore) -> None:
    # Given an open store, When the readiness probe pings it, Then it answers (no error)
    assert await store.ping() is None


async def test_get_of_a_missing_key_is_none(store: StateStore) -> None:
    assert await store.get("orders", "nope") is None


async def test_every_json_value_round_trips_exactly(store: StateStore) -> None:
    # Given every kind of JSON value, set under its own key
    for i, value in enumerate(VALUES):
        assert await store.set("values", f"k{i}", value) == value
    # Then each reads back equal, with the same Python types (int stays int, 2.0 a float)
    for i, value in enumerate(VALUES):
        got = await store.get("values", f"k{i}")
        assert got == value and type(got) is type(value)
    # And object key order is kept
    assert list(await store.get("values", f"k{len(VALUES) - 1}")) == ["z", "a", "m"]


async def test_null_is_a_value_not_a_missing_key(store: StateStore) -> None:
    # Given a key set to null
    await store.set("nulls", "there", None)
    # Then get reads None, but the key exists in the group and the group is listed
    assert await store.get("nulls", "there") is None
    assert await store.get_group("nulls") == {"there": None}
    assert await store.groups() == ["nulls"]


async def test_set_overwrites_and_keys_are_case_sensitive(store: StateStore) -> None:
    await store.set("g", "k", 1)
    await store.set("g", "k", {"now": "a dict"})
    await store.set("g", "K", "upper")
    assert await store.get("g", "k") == {"now": "a dict"}
    assert await store.get("g", "K") == "upper"


async def test_delete_removes_only_that_key(store: StateStore) -> None:
    await store.set("g", "a", 1)
    await store.set("g", "b", 2)
    await store.delete("g", "a")
    await store.delete("g", "never-there")
    assert await store.get("g", "a") is None
    assert await store.get_group("g") == {"b": 2}


async def test_delete_of_the_last_key_removes_the_group(store: StateStore) -> None:
    await store.set("g", "a", 1)
    await store.delete("g", "a")
    assert await store.groups() == []


async def test_delete_many_removes_exactly_those_keys(store: StateStore) -> None:
    # the primitive delayed events cross a published batch off with
    from motia.runner.state.base import DELAYED_GROUP

    for key in ("001.a", "002.b", "003.c", "004.d"):
        await store._set(DELAYED_GROUP, key, "{}")
    await store._delete_many(DELAYED_GROUP, ["001.a", "003.c", "never-there"])
    await store._delete_many(DELAYED_GROUP, [])
    assert await store._page(DELAYED_GROUP, None, "", 10) == [("002.b", "{}"), ("004.d", "{}")]
    assert await store.groups() == []  # reserved: not a user group


async def test_get_group_maps_keys_to_values(store: StateStore) -> None:
    await store.set("users", "u1", {"name": "Ada"})
    await store.set("users", "u2", {"name": "Grace"})
    await store.set("other", "u3", "elsewhere")
    assert await store.get_group("users") == {"u1": {"name": "Ada"}, "u2": {"name": "Grace"}}
    assert await store.get_group("empty") == {}


async def test_clear_empties_only_that_group(store: StateStore) -> None:
    await store.set("a", "k1", 1)
    await store.set("a", "k2", 2)
    await store.set("b", "k1", 3)
    await store.clear("a")
    await store.clear("never-there")
    assert await store.get_group("a") == {}
    assert await store.get("b", "k1") == 3
    assert await store.groups() == ["b"]


async def test_groups_are_sorted_and_exclude_the_runtime_groups(store: StateStore) -> None:
    # Given user groups plus a dead letter, a lease and an idempotency mark
    for group in ("zeta", "alpha", "Mid", "with:colon", "with space"):
        await store.set(group, "k", 1)
    await store.add_dead_letter(_letter("step", 1.0))
    await store.acquire_lease("cron.tick", 30)
    await store.mark_done("step:ev1", 30)
    # Then only user groups are listed, sorted
    assert await store.groups() == ["Mid", "alpha", "with space", "with:colon", "zeta"]


# --- incr -------------------------------------------------------------------------------------


async def test_incr_creates_counts_and_returns_the_new_value(store: StateStore) -> None:
    assert await store.incr("counters", "hits") == 1
    assert await store.incr("counters", "hits", 5) == 6
    assert await store.incr("counters", "hits", -10) == -4
    got = await store.incr("counters", "hits", 0)
    assert got == -4 and type(got) is int
    assert await store.get("counters", "hits") == -4


async def test_incr_with_floats_gives_floats_like_python(store: StateStore) -> None:
    # int + float and float + int are floats, with Python's exact double arithmetic
    await store.set("n", "x", 1)
    got = await store.incr("n", "x", 0.5)
    assert got == 1.5 and type(got) is float
    assert await store.incr("n", "y", 0.1) == 0.1
    assert await store.incr("n", "y", 0.2) == 0.1 + 0.2 == 0.30000000000000004
    got = await store.incr("n", "z", 2.0)
    assert got == 2.0 and type(got) is float
    got = await store.incr("n", "z", 1)
    assert got == 3.0 and type(got) is float
    assert await store.get("n", "z") == 3.0 and type(await store.get("n", "z")) is float


async def test_incr_keeps_big_integers_exact(store: StateStore) -> None:
    await store.set("n", "big", 2**53)
    assert await store.incr("n", "big") == 2**53 + 1


@pytest.mark.parametrize(
    ("value", "shown"),
    [("abc", "'abc'"), ("5", "'5'"), (True, "True"), (None, "None"), ([1], r"\[1\]"),
     ({"a": 1}, r"\{'a': 1\}")],
)
async def test_incr_of_a_value_that_is_not_a_number_fails_and_changes_nothing(
    store: StateStore, value: Any, shown: str
) -> None:
    await store.set("counters", "name", value)
    with pytest.raises(StateError, match=rf"^incr counters/name: the value {shown} is not a number$"):
        await store.incr("counters", "name")
    assert await store.get("counters", "name") == value


@pytest.mark.parametrize("by", ["1", True, None, math.nan, math.inf])
async def test_incr_by_something_other_than_a_finite_number_fails(store: StateStore, by: Any) -> None:
    with pytest.raises(StateError, match=r"^incr by .*: expected a finite number$"):
        await store.incr("counters", "n", by)
    assert await store.get("counters", "n") is None


async def test_incr_past_the_float_range_fails_and_changes_nothing(store: StateStore) -> None:
    await store.set("n", "huge", 1.7e308)
    with pytest.raises(StateError, match=r"^incr n/huge: the result is out of range"):
        await store.incr("n", "huge", 1.7e308)
    assert await store.get("n", "huge") == 1.7e308


async def test_incr_is_atomic_under_200_concurrent_calls(store: StateStore) -> None:
    results = await asyncio.gather(*(store.incr("counters", "c") for _ in range(200)))
    # Every call saw a distinct value: no two read the same old value
    assert sorted(results) == list(range(1, 201))
    assert await store.get("counters", "c") == 200


async def test_incr_is_atomic_across_two_store_instances(backend: Backend) -> None:
    _shared_only(backend)
    # Given two instances (two connections; for sqlite two stores on one file)
    one, two = await backend.open(), await backend.open()
    # When both increment the same key at once
    results = await asyncio.gather(
        *(store.incr("counters", "c") for _ in range(100) for store in (one, two))
    )
    # Then no increment is lost and every caller got a distinct new value
    assert sorted(results) == list(range(1, 201))
    assert await one.get("counters", "c") == await two.get("counters", "c") == 200


# --- argument checks --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "why"), [({1, 2}, "not JSON serializable"), (math.nan, "Out of range float"),
                       ({"a": object()}, "not JSON serializable"), (math.inf, "Out of range")],
)
async def test_a_value_that_is_not_json_is_refused(store: StateStore, value: Any, why: str) -> None:
    with pytest.raises(StateError, match=rf"^state value is not JSON: .*{why}"):
        await store.set("g", "k", value)
    assert await store.get("g", "k") is None


@pytest.mark.parametrize(
    ("group", "why"),
    [("", "expected a non-empty string"), (None, "expected a non-empty string"),
     (7, "expected a non-empty string"),
     ("__motia.dlq", "names starting with '__motia.' are reserved"),
     ("__motia.anything", "names starting with '__motia.' are reserved")],
)
async def test_reserved_and_empty_group_names_are_refused(
    store: StateStore, group: Any, why: str
) -> None:
    calls = [store.get(group, "k"), store.set(group, "k", 1), store.delete(group, "k"),
             store.get_group(group), store.clear(group), store.incr(group, "k")]
    for call in calls:
        with pytest.raises(StateError, match=rf"^state group {group!r}: {why}$"):
            await call


@pytest.mark.parametrize("key", ["", None, 3])
async def test_empty_or_non_string_keys_are_refused(store: StateStore, key: Any) -> None:
    with pytest.raises(StateError, match=rf"^state key {key!r}: expected a non-empty string$"):
        await store.set("g", key, 1)


# --- dead letters -----------------------------------------------------------------------------


async def test_dead_letters_are_listed_by_time_and_filtered_by_step(store: StateStore) -> None:
    # Given three letters added out of time order, from two steps
    late, early, other = _letter("ship", 30.0), _letter("ship", 10.0), _letter("bill", 20.0)
    for letter in (late, early, other):
        await store.add_dead_letter(letter)
    # Then they list oldest first, whole, and filter by step
    assert await store.dead_letters() == [early, other, late]
    assert await store.dead_letters("ship") == [early, late]
    assert await store.dead_letters("nobody") == []


async def test_a_dead_letter_is_taken_once(store: StateStore) -> None:
    letter = _letter("ship", 1.0)
    await store.add_dead_letter(letter)
    assert await store.take_dead_letter(letter.id) == letter
    assert await store.take_dead_letter(letter.id) is None
    assert await store.dead_letters() == []


async def test_two_replicas_replaying_one_dead_letter_get_it_once(backend: Backend) -> None:
    _shared_only(backend)
    one, two = await backend.open(), await backend.open()
    letters = [_letter("ship", float(i)) for i in range(20)]
    for letter in letters:
        await one.add_dead_letter(letter)
    taken = await asyncio.gather(
        *(store.take_dead_letter(letter.id) for letter in letters for store in (one, two))
    )
    assert sorted(t.id for t in taken if t is not None) == sorted(x.id for x in letters)


# --- leases and idempotency marks -------------------------------------------------------------


async def test_a_lease_is_exclusive_until_its_ttl_passes(store: StateStore) -> None:
    assert await store.acquire_lease("cron:tick@1000", 0.2, owner="replica-a") is True
    assert await store.acquire_lease("cron:tick@1000", 0.2, owner="replica-b") is False
    assert await store.acquire_lease("cron:tick@1001", 0.2) is True
    await asyncio.sleep(0.3)
    assert await store.acquire_lease("cron:tick@1000", 0.2, owner="replica-b") is True


async def test_concurrent_lease_attempts_have_one_winner(store: StateStore) -> None:
    won = await asyncio.gather(*(store.acquire_lease("tick", 5, owner=str(i)) for i in range(20)))
    assert won.count(True) == 1


async def test_replicas_racing_for_a_lease_have_one_winner(backend: Backend) -> None:
    _shared_only(backend)
    replicas = [await backend.open() for _ in range(3)]
    won = await asyncio.gather(*(r.acquire_lease("tick", 5) for r in replicas for _ in range(5)))
    assert won.count(True) == 1


async def test_mark_done_records_a_key_until_its_ttl_passes(store: StateStore) -> None:
    assert await store.is_done("step:ev1") is False
    assert await store.mark_done("step:ev1", 0.2) is True
    assert await store.mark_done("step:ev1", 0.2) is False
    assert await store.is_done("step:ev1") is True
    assert await store.is_done("step:ev2") is False
    await asyncio.sleep(0.3)
    assert await store.is_done("step:ev1") is False
    assert await store.mark_done("step:ev1", 0.2) is True


@pytest.mark.parametrize("ttl", [0, -1, math.inf, math.nan, "5", True])
async def test_a_lease_or_mark_needs_a_positive_ttl(store: StateStore, ttl: Any) -> None:
    with pytest.raises(StateError, match=r"^ttl .*: expected a positive number of seconds$"):
        await store.acquire_lease("tick", ttl)
    with pytest.raises(StateError, match=r"^ttl .*: expected a positive number of seconds$"):
        await store.mark_done("ev", ttl)


# --- namespaces and persistence ---------------------------------------------------------------


async def test_namespaces_isolate_two_apps(backend: Backend) -> None:
    shop, blog = await backend.open("shop" + backend.namespace), await backend.open()
    await shop.set("g", "k", "shop")
    await shop.incr("g", "n")
    await shop.add_dead_letter(_letter("s", 1.0))
    assert await shop.acquire_lease("tick", 5)
    assert await shop.mark_done("ev", 5)
    # The other app sees none of it and gets its own lease and mark
    assert await blog.get("g", "k") is None
    assert await blog.groups() == [] and await blog.dead_letters() == []
    assert await blog.acquire_lease("tick", 5) is True
    assert await blog.is_done("ev") is False
    await blog.set("g", "k", "blog")
    await blog.clear("g")
    assert await shop.get_group("g") == {"k": "shop", "n": 1}


async def test_data_persists_across_close_and_reopen(backend: Backend) -> None:
    _shared_only(backend)
    first = backend.create()
    await first.open()
    await first.set("orders", "o1", {"total": 9.5})
    await first.incr("counters", "n", 3)
    letter = _letter("ship", 1.0)
    await first.add_dead_letter(letter)
    await first.mark_done("ev", 30)
    await first.close()
    await first.close()  # closing twice is safe

    again = await backend.open()
    assert await again.get("orders", "o1") == {"total": 9.5}
    assert await again.incr("counters", "n") == 4
    assert await again.dead_letters() == [letter]
    assert await again.is_done("ev") is True
