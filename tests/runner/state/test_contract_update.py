"""The `state.update` contract, every backend: the op semantics, the errors, atomicity.

Memory, SQLite and PostgreSQL run the Python semantics in a transaction; Redis runs the
Lua port (test_update_agreement.py holds the two to the same bytes). Here users' view:
the same answers, the same messages, no lost update under concurrency.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest
from _state_backends import Backend

from motia.errors import StateError
from motia.runner.state.base import StateStore


def _shared_only(backend: Backend) -> None:
    if not backend.shared:
        pytest.skip(f"{backend.kind} stores do not share data between instances")


# --- each op ----------------------------------------------------------------------------------


async def test_update_of_a_missing_key_creates_it_and_returns_the_new_value(
    store: StateStore,
) -> None:
    # Given no value, When ops set a nested path, count and append
    new = await store.update("chats", "c1", [
        {"set": "owner.name", "value": "Ada"},
        {"increment": "stats.messages"},
        {"append": "messages", "value": {"text": "hi"}},
    ])
    # Then missing objects were created on the way, null counted as 0 and [] as start
    expected = {"owner": {"name": "Ada"}, "stats": {"messages": 1},
                "messages": [{"text": "hi"}]}
    assert new == expected
    assert await store.get("chats", "c1") == expected


async def test_set_replaces_at_the_path_and_keeps_key_order(store: StateStore) -> None:
    await store.set("g", "k", {"b": 1, "a": {"x": 1, "y": 2}})
    new = await store.update("g", "k", [{"set": "a.x", "value": [True]}, {"set": "c", "value": None}])
    assert new == {"b": 1, "a": {"x": [True], "y": 2}, "c": None}
    assert list(new) == ["b", "a", "c"] and list(new["a"]) == ["x", "y"]


async def test_set_of_the_whole_value_replaces_it(store: StateStore) -> None:
    await store.set("g", "k", {"old": True})
    assert await store.update("g", "k", [{"set": "", "value": [1, 2]}]) == [1, 2]


async def test_merge_is_shallow_and_creates_a_missing_object(store: StateStore) -> None:
    await store.set("g", "k", {"profile": {"name": "Ada", "tags": ["a"]}, "n": 1})
    new = await store.update("g", "k", [
        {"merge": "profile", "value": {"tags": ["b"], "city": "London"}},
        {"merge": "settings", "value": {"dark": True}},
    ])
    assert new == {"profile": {"name": "Ada", "tags": ["b"], "city": "London"}, "n": 1,
                   "settings": {"dark": True}}


async def test_increment_counts_from_zero_by_one_or_by(store: StateStore) -> None:
    new = await store.update("g", "k", [
        {"increment": "a"}, {"increment": "a", "by": 41}, {"increment": "f", "by": 0.5},
        {"increment": "big", "by": 2**64}, {"increment": "big", "by": 2**64},
    ])
    assert new == {"a": 42, "f": 0.5, "big": 2**65}
    assert type(new["a"]) is int and type(new["f"]) is float


async def test_increment_of_the_whole_value_works_like_incr(store: StateStore) -> None:
    await store.set("g", "n", 2)
    got = await store.update("g", "n", [{"increment": "", "by": 0.5}])
    assert got == 2.5 and type(got) is float


async def test_append_adds_to_an_array_and_starts_one_on_null(store: StateStore) -> None:
    await store.set("g", "k", {"list": [1], "empty": [], "none": None})
    new = await store.update("g", "k", [
        {"append": "list", "value": {"two": 2}}, {"append": "empty", "value": []},
        {"append": "none", "value": "x"},
    ])
    assert new == {"list": [1, {"two": 2}], "empty": [[]], "none": ["x"]}


async def test_numeric_segments_index_arrays_and_are_keys_on_objects(store: StateStore) -> None:
    await store.set("g", "k", {"items": [{"qty": 1}, {"qty": 5}], "byId": {"7": "seven"}})
    new = await store.update("g", "k", [
        {"increment": "items.1.qty", "by": 2}, {"set": "byId.7", "value": "SEVEN"},
        {"set": "byId.8", "value": "eight"},
    ])
    assert new == {"items": [{"qty": 1}, {"qty": 7}], "byId": {"7": "SEVEN", "8": "eight"}}


async def test_a_list_path_reaches_keys_that_contain_dots(store: StateStore) -> None:
    await store.set("g", "k", {"example.com": {"hits": 1}})
    new = await store.update("g", "k", [{"increment": ["example.com", "hits"]},
                                         {"set": ["", "a.b"], "value": 1}])
    assert new == {"example.com": {"hits": 2}, "": {"a.b": 1}}


async def test_remove_deletes_members_and_items_and_ignores_what_is_not_there(
    store: StateStore,
) -> None:
    await store.set("g", "k", {"a": 1, "b": {"c": 2}, "list": ["x", "y", "z"], "s": "text"})
    new = await store.update("g", "k", [
        {"remove": "a"}, {"remove": "list.1"}, {"remove": "b.c"}, {"remove": "nope.deeper"},
        {"remove": "list.9"}, {"remove": "list.name"}, {"remove": "s.inner"},
    ])
    assert new == {"b": {}, "list": ["x", "z"], "s": "text"}


async def test_remove_of_the_whole_value_deletes_the_key(store: StateStore) -> None:
    await store.set("g", "k", {"a": 1})
    await store.set("g", "other", 1)
    assert await store.update("g", "k", [{"remove": ""}]) is None
    assert await store.get_group("g") == {"other": 1}
    # and ops after it start again from nothing
    assert await store.update("g", "k", [{"remove": ""}, {"increment": "n"}]) == {"n": 1}


async def test_removing_the_last_key_removes_the_group(store: StateStore) -> None:
    await store.set("g", "k", 1)
    await store.update("g", "k", [{"remove": ""}])
    assert await store.groups() == []


async def test_no_ops_return_the_value_and_write_nothing(store: StateStore) -> None:
    assert await store.update("g", "k", []) is None
    assert await store.get_group("g") == {}
    await store.set("g", "k", {"a": 1})
    assert await store.update("g", "k", []) == {"a": 1}


# --- errors: the op, the path and what was found; nothing written -----------------------------


@pytest.mark.parametrize(("start", "ops", "message"), [
    ({"n": "five"}, [{"increment": "n"}],
     'ops[0] (increment "n"): expected a number at "n", found a string ("five")'),
    ({"n": True}, [{"increment": "n"}],
     'ops[0] (increment "n"): expected a number at "n", found a boolean (true)'),
    ({"list": {}}, [{"append": "list", "value": 1}],
     'ops[0] (append "list"): expected an array at "list", found an object'),
    ({"p": [1]}, [{"merge": "p", "value": {"a": 1}}],
     'ops[0] (merge "p"): expected an object at "p", found an array'),
    ({"a": 5}, [{"set": "a.b.c", "value": 1}],
     'ops[0] (set "a.b.c"): expected an object or array at "a", found a number (5)'),
    ("text", [{"set": "a", "value": 1}],
     'ops[0] (set "a"): expected an object or array at "" (the whole value), '
     'found a string ("text")'),
    ({"items": [1, 2]}, [{"set": "items.first", "value": 1}],
     "ops[0] (set \"items.first\"): the array at \"items\" takes a numeric index, not 'first'"),
    ({"items": [1, 2]}, [{"set": "items.2", "value": 1}],
     'ops[0] (set "items.2"): index 2 is out of range: the array at "items" has 2 item(s); '
     "append adds one"),
    ({"f": 1.7e308}, [{"increment": "f", "by": 1.7e308}],
     'ops[0] (increment "f"): the result is out of range'),
    ({"n": 1}, [{"increment": "n"}, {"append": "n", "value": 2}],
     'ops[1] (append "n"): expected an array at "n", found a number (2)'),
    ({"s": "x" * 60}, [{"increment": "s"}],
     'ops[0] (increment "s"): expected a number at "s", found a string ("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...)'),
])
async def test_an_op_that_does_not_fit_fails_naming_it_and_changes_nothing(
    store: StateStore, start: Any, ops: list[Any], message: str
) -> None:
    # Given a value, When a list of ops has one that does not fit what it finds
    await store.set("g", "k", start)
    with pytest.raises(StateError) as raised:
        await store.update("g", "k", ops)
    # Then the message names the op's index, the op, the path and the find
    assert str(raised.value) == f"state.update g/k: {message}"
    # And the ops before it were not applied either
    assert await store.get("g", "k") == start


@pytest.mark.parametrize(("ops", "message"), [
    ({"set": "a", "value": 1},
     "state.update ops {'set': 'a', 'value': 1}: expected a list of operations such as "
     '[{"set": "status", "value": "paid"}]'),
    ([{"add": "a"}],
     "state.update ops[0] {'add': 'a'}: expected an object with exactly one of set, merge, "
     'increment, append, remove, e.g. {"increment": "count", "by": 1}'),
    ([{"set": "a", "remove": "b", "value": 1}],
     "state.update ops[0] {'set': 'a', 'remove': 'b', 'value': 1}: expected an object with "
     'exactly one of set, merge, increment, append, remove, e.g. {"increment": "count", "by": 1}'),
    ([{"set": "a", "valeu": 1}],
     "state.update ops[0] (set \"a\"): unknown field 'valeu'; did you mean 'value'?"),
    ([{"remove": "a", "value": 1}],
     "state.update ops[0] (remove \"a\"): unknown field 'value'; remove takes nothing else"),
    ([{"append": "a"}], 'state.update ops[0] (append "a"): "value" is missing'),
    ([{"merge": "a", "value": [1]}],
     'state.update ops[0] (merge "a"): "value" must be an object to merge in, got [1]'),
    ([{"increment": "a", "by": "1"}],
     "state.update ops[0] (increment \"a\"): \"by\" '1': expected a finite number"),
    ([{"increment": "a", "by": math.nan}],
     'state.update ops[0] (increment "a"): "by" nan: expected a finite number'),
    ([{"increment": "a", "by": True}],
     'state.update ops[0] (increment "a"): "by" True: expected a finite number'),
    ([{"set": "a..b", "value": 1}],
     "state.update ops[0] (set): path 'a..b' has an empty segment; to reach a key with dots "
     'in it, give the path as a list: ["a.b", "c"]'),
    ([{"set": 7, "value": 1}],
     'state.update ops[0] (set): path 7: expected a dotted string ("a.b") or a list of '
     'strings (["a.b", "c"])'),
    ([{"set": ".".join("a" * 33), "value": 1}],
     "state.update ops[0] (set): path has 33 segments; at most 32 are allowed"),
    ([{"set": "a", "value": {1, 2}}],
     "state value is not JSON: Object of type set is not JSON serializable"),
    ([{"append": "a", "value": math.inf}],
     "state value is not JSON: Out of range float values are not JSON compliant"),
])
async def test_malformed_ops_are_refused_before_anything_is_read(
    store: StateStore, ops: Any, message: str
) -> None:
    with pytest.raises(StateError) as raised:
        await store.update("g", "k", ops)
    assert str(raised.value) == message
    assert await store.get_group("g") == {}


async def test_update_checks_group_and_key_like_every_state_call(store: StateStore) -> None:
    with pytest.raises(StateError, match=r"^state group '__motia.dlq': names starting with"):
        await store.update("__motia.dlq", "k", [{"remove": ""}])
    with pytest.raises(StateError, match=r"^state key '': expected a non-empty string$"):
        await store.update("g", "", [{"remove": ""}])


# --- atomicity ----------------------------------------------------------------------------------


async def test_200_concurrent_appends_and_increments_lose_nothing(store: StateStore) -> None:
    # When 200 updates of one key run at once
    await asyncio.gather(*(
        store.update("chats", "c", [{"append": "messages", "value": i}, {"increment": "count"}])
        for i in range(200)))
    # Then every message is there once, and the count matches
    chat = await store.get("chats", "c")
    assert chat["count"] == 200
    assert sorted(chat["messages"]) == list(range(200))


async def test_updates_from_three_replicas_lose_nothing(backend: Backend) -> None:
    _shared_only(backend)
    # Given three store instances on the same data (three replicas' connections)
    replicas = [await backend.open() for _ in range(3)]
    # When each appends and counts 100 times on one key, all at once
    results = await asyncio.gather(*(
        replica.update("chats", "c", [{"append": "messages", "value": f"{n}-{i}"},
                                      {"increment": "count"}])
        for i in range(100) for n, replica in enumerate(replicas)))
    # Then each update saw a distinct count (no two read the same old value)
    assert sorted(r["count"] for r in results) == list(range(1, 301))
    chat = await replicas[0].get("chats", "c")
    assert chat["count"] == 300
    assert sorted(chat["messages"]) == sorted(f"{n}-{i}" for i in range(100) for n in range(3))


async def test_concurrent_updates_creating_a_key_all_land(backend: Backend) -> None:
    _shared_only(backend)
    # The racy case for row locks: the key does not exist when they all start
    one, two = await backend.open(), await backend.open()
    await asyncio.gather(*(s.update("g", "fresh", [{"increment": "n"}])
                           for _ in range(50) for s in (one, two)))
    assert await one.get("g", "fresh") == {"n": 100}
