"""`ctx.emit({"topic", "data", "id"})` sets the emitted event's id, in both languages.

The id travels with the kept emit (fast path) and with the host's check (slow path: a
schema the worker's fast check is not sure of); a bad id raises EmitError at the call.
"""

from __future__ import annotations

from pathlib import Path

from motia.compiler.ir import Topic
from motia.runner.workers.api import Emit

from .conftest import MakePool, app, ctx, step, write

# `format` is a keyword the workers' fast check leaves to the host: the slow path
TOPICS = (Topic("invoice.created", {"type": "object", "properties": {"n": {"type": "integer"}}}),
          Topic("mail.sent", {"type": "string", "format": "email"}))
BAD_ID = ("ctx.emit('invoice.created'): id must be a non-empty string of at most 200 "
          "characters, got {}")


async def test_both_languages_set_the_ids_of_what_they_emit(
    tmp_path: Path, make_pool: MakePool, node: str
) -> None:
    # Given a Python and a Node.js handler emitting with and without ids, on both paths
    write(tmp_path, {
        "steps/py.py": """
            async def handler(data, ctx):
                await ctx.emit({"topic": "invoice.created", "data": {"n": 1}, "id": "inv-1"})
                await ctx.emit({"topic": "invoice.created", "data": {"n": 2}})
                await ctx.emit({"topic": "mail.sent", "data": "a@b.co", "id": "mail-1"})
            """,
        "steps/js.js": """
            exports.handler = async (data, ctx) => {
              await ctx.emit({ topic: 'invoice.created', data: { n: 1 }, id: 'inv-1' });
              await ctx.emit({ topic: 'invoice.created', data: { n: 2 } });
              await ctx.emit({ topic: 'mail.sent', data: 'a@b.co', id: 'mail-1' });
            };
            """,
    })
    emits = ("invoice.created", "mail.sent")
    pool = make_pool(app(tmp_path, step("py", "steps/py.py", emits=emits),
                         step("js", "steps/js.js", emits=emits), topics=TOPICS), node=node)
    # When each runs, Then the emits come back in call order with the ids they were given
    expected = [Emit("invoice.created", {"n": 1}, "inv-1"), Emit("invoice.created", {"n": 2}),
                Emit("mail.sent", "a@b.co", "mail-1")]
    assert (await pool.invoke("py", None, ctx())).emits == expected
    assert (await pool.invoke("js", None, ctx())).emits == expected


async def test_a_bad_id_raises_at_the_call_in_both_languages(
    tmp_path: Path, make_pool: MakePool, node: str
) -> None:
    # Given handlers that try ids that are not short non-empty strings
    write(tmp_path, {
        "steps/py.py": """
            async def handler(ids, ctx):
                caught = []
                for event_id in ids:
                    try:
                        await ctx.emit({"topic": "invoice.created", "data": {}, "id": event_id})
                    except Exception as exc:
                        caught.append(f"{type(exc).__name__}: {exc}")
                return caught
            """,
        "steps/js.js": """
            exports.handler = async (ids, ctx) => {
              const caught = [];
              for (const id of ids) {
                try { await ctx.emit({ topic: 'invoice.created', data: {}, id }); }
                catch (e) { caught.push(`${e.name}: ${e.message}`); }
              }
              return caught;
            };
            """,
    })
    pool = make_pool(app(tmp_path, step("py", "steps/py.py", emits=("invoice.created",)),
                         step("js", "steps/js.js", emits=("invoice.created",)), topics=TOPICS),
                     node=node)
    ids = ["", 42, "x" * 201]
    # When they run, Then each bad id was refused at once, saying what an id must be
    py = await pool.invoke("py", ids, ctx())
    assert py.value == [f"EmitError: {BAD_ID.format(r)}" for r in ("''", "42", repr("x" * 201))]
    js = await pool.invoke("js", ids, ctx())
    assert js.value == [f"EmitError: {BAD_ID.format(r)}" for r in ('""', "42", f'"{"x" * 201}"')]
    assert py.emits == [] and js.emits == []
