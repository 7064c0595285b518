"""ctx.state.update and ctx.state.list from both languages, through the real workers."""

from __future__ import annotations

import asyncio
from pathlib import Path

from motia.runner.state.memory import MemoryStore

from .conftest import MakePool, Recorder, app, ctx, step, write

HANDLERS = {
    "steps/chat.py": """
        async def handler(message, ctx):
            return await ctx.state.update("chats", "c1", [
                {"append": "messages", "value": message},
                {"increment": "count"},
            ])
        """,
    "steps/chat.js": """
        exports.handler = async (message, ctx) => ctx.state.update('chats', 'c1', [
          { append: 'messages', value: message },
          { increment: 'count' },
        ]);
        """,
}


async def test_concurrent_updates_from_both_languages_lose_nothing(
    tmp_path: Path, make_pool: MakePool, node: str
) -> None:
    # Given a chat handler in Python (two workers) and one in Node.js, appending to one key
    write(tmp_path, HANDLERS)
    store = MemoryStore()
    pool = make_pool(app(tmp_path, step("py", "steps/chat.py", workers=2),
                         step("js", "steps/chat.js")), store=store, node=node)
    # When 300 messages arrive at once, split between the languages
    results = await asyncio.gather(*(
        pool.invoke("py" if i % 2 else "js", f"m{i}", ctx(i)) for i in range(300)))
    # Then each update returned the new value with a distinct count, and every message landed
    assert sorted(r.value["count"] for r in results) == list(range(1, 301))
    chat = await store.get("chats", "c1")
    assert chat["count"] == 300
    assert sorted(chat["messages"]) == sorted(f"m{i}" for i in range(300))


async def test_list_pages_through_a_group_from_both_languages(
    tmp_path: Path, make_pool: MakePool, node: str
) -> None:
    # Given handlers that walk a group page by page
    write(tmp_path, {
        "steps/walk.py": """
            def handler(prefix, ctx):  # a plain def: ctx calls block and return values
                keys, cursor = [], None
                while True:
                    page = ctx.state.list("users", prefix=prefix, limit=2, cursor=cursor)
                    keys.append([item["key"] for item in page["items"]])
                    cursor = page["cursor"]
                    if cursor is None:
                        return keys
            """,
        "steps/walk.js": """
            exports.handler = async (prefix, ctx) => {
              const keys = [];
              let cursor = null;
              do {
                const page = await ctx.state.list('users', { prefix, limit: 2, cursor });
                keys.push(page.items.map((item) => item.key));
                cursor = page.cursor;
              } while (cursor !== null);
              return keys;
            };
            """,
    })
    store = MemoryStore()
    for key in ("u:3", "u:1", "admin", "u:2"):
        await store.set("users", key, {"id": key})
    pool = make_pool(app(tmp_path, step("py", "steps/walk.py"), step("js", "steps/walk.js")),
                     store=store, node=node)
    # When each lists the "u:" keys two at a time, Then both see the same pages
    for name in ("py", "js"):
        assert (await pool.invoke(name, "u:", ctx())).value == [["u:1", "u:2"], ["u:3"]]
        assert (await pool.invoke(name, None, ctx())).value == [["admin", "u:1"], ["u:2", "u:3"]]


async def test_update_errors_reach_the_handler_in_both_languages(
    tmp_path: Path, make_pool: MakePool, node: str
) -> None:
    write(tmp_path, {
        "steps/bad.py": """
            from motia.errors import StateError
            async def handler(ops, ctx):
                await ctx.state.set("g", "k", {"n": "text"})
                try:
                    await ctx.state.update("g", "k", ops)
                except StateError as exc:
                    return f"StateError: {exc}"
            """,
        "steps/bad.js": """
            exports.handler = async (ops, ctx) => {
              await ctx.state.set('g', 'k', { n: 'text' });
              try { await ctx.state.update('g', 'k', ops); } catch (e) { return `${e.name}: ${e.message}`; }
            };
            """,
    })
    pool = make_pool(app(tmp_path, step("py", "steps/bad.py"), step("js", "steps/bad.js")), node=node)
    message = ('StateError: state.update g/k: ops[1] (increment "n"): expected a number at "n", '
               'found a string ("text")')
    ops = [{"set": "ok", "value": True}, {"increment": "n"}]
    assert (await pool.invoke("py", ops, ctx())).value == message
    assert (await pool.invoke("js", ops, ctx())).value == message


async def test_node_list_options_must_be_an_object(
    tmp_path: Path, make_pool: MakePool, node: str
) -> None:
    write(tmp_path, {"steps/list.js": """
        exports.handler = async (data, ctx) => {
          try { await ctx.state.list('g', 'u:'); } catch (e) { return `${e.name}: ${e.message}`; }
        };
        """})
    pool = make_pool(app(tmp_path, step("js", "steps/list.js")), node=node)
    assert (await pool.invoke("js", None, ctx())).value == (
        'TypeError: ctx.state.list(group, {prefix, limit, cursor}): the options must be an '
        'object, got "u:"')


async def test_update_and_list_reach_the_state_hook(
    tmp_path: Path, make_pool: MakePool, recorder: Recorder
) -> None:
    write(tmp_path, {"steps/both.py": """
        async def handler(data, ctx):
            await ctx.state.update("g", "k", [{"set": "a", "value": 1}])
            await ctx.state.list("g", prefix="k")
        """})
    pool = make_pool(app(tmp_path, step("both", "steps/both.py")))
    await pool.invoke("both", None, ctx())
    assert [(op, args) for _, _, op, args in recorder.named("after_state_op")] == [
        ("state.update", ["g", "k", [{"set": "a", "value": 1}]]),
        ("state.list", ["g", "k", 100, None])]
