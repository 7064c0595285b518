"""The `state.list` contract and the key rules, every backend.

`list` pages through a group in key order (code points: the same order on every store)
with a cursor that stays correct while the group changes. Key and group names every
store can keep are the same everywhere: NUL, lone surrogates and over-long names are
refused by writes with the same StateError, and found by no read; values keep both
(they are JSON escapes).
"""

from __future__ import annotations

from typing import Any

import pytest
from _state_backends import Backend

from motia.errors import StateError
from motia.runner.state._paging import prefix_end
from motia.runner.state.base import StateStore


async def _walk(store: StateStore, group: str, **options: Any) -> list[list[str]]:
    """The keys of every page, following the cursor to the end."""
    pages, cursor = [], None
    while True:
        page = await store.list(group, cursor=cursor, **options)
        pages.append([item["key"] for item in page["items"]])
        cursor = page["cursor"]
        if cursor is None:
            return pages


async def test_list_pages_in_key_order_with_values(store: StateStore) -> None:
    # Given five keys written out of order
    for key in ("d", "b", "e", "a", "c"):
        await store.set("g", key, {"key": key})
    # When listing two at a time
    first = await store.list("g", limit=2)
    # Then the first page has the two smallest keys, their values and a cursor
    assert first["items"] == [{"key": "a", "value": {"key": "a"}},
                              {"key": "b", "value": {"key": "b"}}]
    assert isinstance(first["cursor"], str)
    # And following the cursor lists the rest, the last page without a cursor
    assert await _walk(store, "g", limit=2) == [["a", "b"], ["c", "d"], ["e"]]


async def test_a_page_that_ends_the_group_exactly_has_no_cursor_after(store: StateStore) -> None:
    for key in ("a", "b"):
        await store.set("g", key, 1)
    assert await store.list("g", limit=2) == {
        "items": [{"key": "a", "value": 1}, {"key": "b", "value": 1}], "cursor": None}


async def test_an_empty_or_unknown_group_is_one_empty_page(store: StateStore) -> None:
    assert await store.list("nothing") == {"items": [], "cursor": None}


async def test_keys_are_ordered_by_code_point_on_every_store(store: StateStore) -> None:
    keys = ["a", "B", "é", "😀", "z", "\uffff", "10", "9", "a b", "a-b", "ab", "Z", "\u00ff"]
    for key in keys:
        await store.set("g", key, 1)
    assert await _walk(store, "g", limit=1000) == [sorted(keys)]


async def test_prefix_lists_only_matching_keys(store: StateStore) -> None:
    for key in ("user:1", "user:2", "user:10", "users", "usep", "order:1", "user;", "user:\uffff"):
        await store.set("g", key, 1)
    assert await _walk(store, "g", prefix="user:", limit=2) == [
        ["user:1", "user:10"], ["user:2", "user:\uffff"]]
    assert await _walk(store, "g", prefix="zzz") == [[]]
    assert await _walk(store, "g", prefix="") == [sorted(
        ["user:1", "user:2", "user:10", "users", "usep", "order:1", "user;", "user:\uffff"])]


async def test_paging_is_stable_while_the_group_changes(store: StateStore) -> None:
    # Given keys k00..k29, listed ten at a time
    for i in range(30):
        await store.set("g", f"k{i:02d}", i)
    seen: list[str] = []
    page = await store.list("g", limit=10)
    seen += [item["key"] for item in page["items"]]
    # When keys are added behind and ahead of the cursor, and one ahead deleted
    await store.set("g", "k00a", "behind")
    await store.set("g", "k15a", "ahead")
    await store.delete("g", "k20")
    while page["cursor"] is not None:
        page = await store.list("g", limit=10, cursor=page["cursor"])
        seen += [item["key"] for item in page["items"]]
    # Then every key there the whole time is listed exactly once, in order; the one
    # added ahead is seen, the one behind is not, the deleted one is gone
    expected = sorted([f"k{i:02d}" for i in range(30) if i != 20] + ["k15a"])
    assert seen == expected


async def test_a_big_group_pages_through_every_key(store: StateStore) -> None:
    for i in range(2500):
        await store.set("big", f"{i:05d}", i)
    pages = await _walk(store, "big", limit=1000)
    assert [len(p) for p in pages] == [1000, 1000, 500]
    assert sum(pages, []) == [f"{i:05d}" for i in range(2500)]


async def test_list_sees_keys_written_by_incr_and_update_and_not_deleted_ones(
    store: StateStore,
) -> None:
    await store.incr("g", "counter")
    await store.update("g", "doc", [{"set": "a", "value": 1}])
    await store.set("g", "gone", 1)
    await store.delete("g", "gone")
    await store.set("g", "removed", 1)
    await store.update("g", "removed", [{"remove": ""}])
    assert (await store.list("g"))["items"] == [{"key": "counter", "value": 1},
                                                {"key": "doc", "value": {"a": 1}}]
    await store.clear("g")
    assert await store.list("g") == {"items": [], "cursor": None}


@pytest.mark.parametrize(("options", "message"), [
    ({"limit": 0}, "state.list limit 0: expected a whole number from 1 to 1000"),
    ({"limit": 1001}, "state.list limit 1001: expected a whole number from 1 to 1000"),
    ({"limit": "10"}, "state.list limit '10': expected a whole number from 1 to 1000"),
    ({"limit": True}, "state.list limit True: expected a whole number from 1 to 1000"),
    ({"prefix": 5}, "state.list prefix 5: expected a string (or None for every key)"),
    ({"cursor": "not a cursor!"},
     "state.list cursor 'not a cursor!': not a cursor state.list returned; pass the "
     '"cursor" of the previous page, or None for the first page'),
    ({"cursor": "//8"},
     "state.list cursor '//8': not a cursor state.list returned; pass the "
     '"cursor" of the previous page, or None for the first page'),
    ({"cursor": ""},
     "state.list cursor '': not a cursor state.list returned; pass the "
     '"cursor" of the previous page, or None for the first page'),
])
async def test_bad_list_arguments_are_refused(
    store: StateStore, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(StateError) as raised:
        await store.list("g", **options)
    assert str(raised.value) == message


def test_the_end_of_a_prefix_range_is_the_next_string_up() -> None:
    assert prefix_end("user:") == "user;"
    assert prefix_end("a\U0010ffff") == "b"
    assert prefix_end("\U0010ffff") is None
    assert prefix_end("\ud7ff") == "\ue000"  # surrogates are not characters


async def test_a_redis_group_written_before_the_key_index_still_lists(backend: Backend) -> None:
    if backend.kind != "redis":
        pytest.skip("the key index is how Redis lists a group in order")
    store = await backend.open()
    for key in ("c", "a", "b"):
        await store.set("g", key, key)
    # Given a group whose key index is missing (written by a version without it)
    client = store._connected()  # type: ignore[attr-defined]
    await client.delete(store._keys("g"))  # type: ignore[attr-defined]
    # Then list rebuilds it and pages in order
    assert await _walk(store, "g", limit=2) == [["a", "b"], ["c"]]


# --- the names every store can keep -----------------------------------------------------------


@pytest.mark.parametrize(("name", "message"), [
    ("a\x00b", "contains a NUL character, which the stores cannot keep; leave it out or "
               "encode the name (e.g. hex)"),
    ("x\ud800", "is not valid Unicode (a lone surrogate at index 1); use a key of real "
                "characters"),
])
async def test_writes_refuse_nul_and_lone_surrogates_in_names_on_every_store(
    store: StateStore, name: str, message: str
) -> None:
    for what, call in [
        ("key", lambda: store.set("g", name, 1)), ("key", lambda: store.incr("g", name)),
        ("key", lambda: store.update("g", name, [{"set": "a", "value": 1}])),
        ("group", lambda: store.set(name, "k", 1)),
        ("group", lambda: store.update(name, "k", [{"remove": ""}])),
    ]:
        with pytest.raises(StateError) as raised:
            await call()
        assert str(raised.value) == f"state {what} {name!r}: {message}"
    assert await store.groups() == []


@pytest.mark.parametrize("name", ["a\x00b", "x\ud800", "k" * 1025])
async def test_reads_of_a_name_no_store_can_keep_find_nothing(
    store: StateStore, name: str
) -> None:
    # A client's id used as a key: the lookup finds nothing (a 404), it does not fail
    assert await store.get("g", name) is None
    assert await store.get(name, "k") is None
    assert await store.get_group(name) == {}
    assert await store.list(name) == {"items": [], "cursor": None}
    await store.delete("g", name)
    await store.clear(name)
    # and bad paging arguments are still refused
    with pytest.raises(StateError, match=r"^state.list limit 0: "):
        await store.list(name, limit=0)


async def test_over_long_keys_and_groups_are_refused(store: StateStore) -> None:
    with pytest.raises(StateError) as raised:
        await store.set("g", "é" * 513, 1)
    assert str(raised.value) == ("state key of 1026 bytes is longer than the limit of 1024 "
                                 "bytes (UTF-8); use a shorter one, e.g. a hash of it")
    with pytest.raises(StateError, match=r"^state group of 257 bytes is longer than the limit"):
        await store.set("g" * 257, "k", 1)
    # the limits themselves are fine
    await store.set("g" * 256, "k" * 1024, 1)
    assert await store.get("g" * 256, "k" * 1024) == 1


async def test_nul_and_lone_surrogates_in_values_round_trip(store: StateStore) -> None:
    value = {"nul": "a\x00b", "lone": "\ud800", "emoji": "🚀", "key\x00": 1}
    await store.set("g", "k", value)
    assert await store.get("g", "k") == value
    assert await store.update("g", "k", [{"append": "list", "value": "\x00\udfff"}]) == {
        **value, "list": ["\x00\udfff"]}
