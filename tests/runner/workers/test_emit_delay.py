"""`ctx.emit({"topic", "data", "delay"})` in both languages: the delay travels in seconds.

A delay is a duration spelled like motia.yaml's (`"30s"`, `"5m"`, `"500ms"`, `"1d"`) or a
number of seconds; anything else raises EmitError at the call, in the same words in
Python and Node.js, naming the accepted forms. The fast path (the worker is sure of the
data) and the slow path (the host checks it) carry it alike.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from motia.compiler.ir import Topic
from motia.runner.workers._protocol import emit_delay
from motia.runner.workers.api import Emit

from .conftest import MakePool, app, ctx, step, write

# `format` is a keyword the workers' fast check leaves to the host: the slow path
TOPICS = (Topic("invoice.due", {"type": "object", "properties": {"n": {"type": "integer"}}}),
          Topic("mail.sent", {"type": "string", "format": "email"}))
FORMS = ('a duration such as "30s", "5m", "2h" or "1d" (units ms, s, m, h, d), '
         "or a number of seconds")
BAD = "EmitError: ctx.emit('invoice.due'): delay must be " + FORMS + " from 0, got {}"
TOO_LONG = ("EmitError: ctx.emit('invoice.due'): delay {} is longer than the limit of 365 "
            "days; publish nearer the time, or store the date and check it from a cron step")


@pytest.mark.parametrize(("given", "seconds"), [
    ("30s", 30.0), ("5m", 300.0), ("2h", 7200.0), ("3d", 259200.0), ("500ms", 0.5),
    (" 1.5s ", 1.5), (0, 0.0), (12, 12.0), (0.25, 0.25), ("365d", 365 * 86400.0),
])
def test_a_delay_is_a_duration_or_seconds(given: object, seconds: float) -> None:
    assert emit_delay("t", given) == seconds


@pytest.mark.parametrize("given", ["soon", "30", "-1s", "1w", "", True, -1, float("nan"),
                                   float("inf"), [], {"s": 1}])
def test_anything_else_is_refused_naming_the_accepted_forms(given: object) -> None:
    with pytest.raises(ValueError) as caught:
        emit_delay("t", given)
    assert str(caught.value) == f"ctx.emit('t'): delay must be {FORMS} from 0, got {given!r}"


async def test_both_languages_send_the_delay_in_seconds(
    tmp_path: Path, make_pool: MakePool, node: str
) -> None:
    # Given a Python and a Node.js handler emitting with delays, on both paths
    write(tmp_path, {
        "steps/py.py": """
            async def handler(data, ctx):
                await ctx.emit({"topic": "invoice.due", "data": {"n": 1}, "delay": "30s"})
                await ctx.emit({"topic": "invoice.due", "data": {"n": 2}, "id": "i-2", "delay": 1.5})
                await ctx.emit({"topic": "invoice.due", "data": {"n": 3}})
                await ctx.emit({"topic": "mail.sent", "data": "a@b.co", "delay": "2d"})
            """,
        "steps/js.js": """
            exports.handler = async (data, ctx) => {
              await ctx.emit({ topic: 'invoice.due', data: { n: 1 }, delay: '30s' });
              await ctx.emit({ topic: 'invoice.due', data: { n: 2 }, id: 'i-2', delay: 1.5 });
              await ctx.emit({ topic: 'invoice.due', data: { n: 3 } });
              await ctx.emit({ topic: 'mail.sent', data: 'a@b.co', delay: '2d' });
            };
            """,
    })
    emits = ("invoice.due", "mail.sent")
    pool = make_pool(app(tmp_path, step("py", "steps/py.py", emits=emits),
                         step("js", "steps/js.js", emits=emits), topics=TOPICS), node=node)
    # When each runs, Then the emits come back with their delays in seconds
    expected = [Emit("invoice.due", {"n": 1}, None, 30.0), Emit("invoice.due", {"n": 2}, "i-2", 1.5),
                Emit("invoice.due", {"n": 3}), Emit("mail.sent", "a@b.co", None, 172800.0)]
    assert (await pool.invoke("py", None, ctx())).emits == expected
    assert (await pool.invoke("js", None, ctx())).emits == expected


async def test_a_bad_delay_raises_at_the_call_in_both_languages(
    tmp_path: Path, make_pool: MakePool, node: str
) -> None:
    # Given handlers that try delays that are not durations
    write(tmp_path, {
        "steps/py.py": """
            async def handler(delays, ctx):
                caught = []
                for delay in delays:
                    try:
                        await ctx.emit({"topic": "invoice.due", "data": {}, "delay": delay})
                    except Exception as exc:
                        caught.append(f"{type(exc).__name__}: {exc}")
                return caught
            """,
        "steps/js.js": """
            exports.handler = async (delays, ctx) => {
              const caught = [];
              for (const delay of delays) {
                try { await ctx.emit({ topic: 'invoice.due', data: {}, delay }); }
                catch (e) { caught.push(`${e.name}: ${e.message}`); }
              }
              return caught;
            };
            """,
    })
    pool = make_pool(app(tmp_path, step("py", "steps/py.py", emits=("invoice.due",)),
                         step("js", "steps/js.js", emits=("invoice.due",)), topics=TOPICS),
                     node=node)
    delays = ["soon", "1w", -5, "400d"]
    # When they run, Then each was refused at once, in the same words in both languages
    expected = [BAD.format("'soon'"), BAD.format("'1w'"), BAD.format("-5"),
                TOO_LONG.format("'400d'")]
    py = await pool.invoke("py", delays, ctx())
    js = await pool.invoke("js", delays, ctx())
    assert py.value == expected
    assert js.value == expected
    assert py.emits == [] and js.emits == []
