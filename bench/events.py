"""Event path: an API step and two event hops on the in-memory bus, Python workers.

    .venv/bin/python bench/events.py [--duration 5] [--concurrency 64]

`POST /orders` (API step) emits `order.placed`; `charge` consumes it and emits
`order.charged`; `ship` consumes that. The load generator (bench/_load.py, its own
process) first runs closed-loop to find the maximum rate, then open-loop at 2,500
events/s (half the 5,000 target), then open-loop at half the maximum it found. Reported,
one line per figure: events/s (event-step invocations per second: two per request) and
end-to-end latency p50/p99, from the request being sent to `ship` finishing (send times
from the load generator, finish times from a runtime hook; both wall clock on this
machine). Target: >= 5,000 events/s, and p99 < 20 ms at half that rate (2,500 events/s).
The last line, at half of whatever maximum this machine reached, is for information: on
a fast machine it is a heavier load than the target's.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _load import percentile  # noqa: E402
from _readme import row, update_rows  # noqa: E402
from gateway import cpu_seconds, run_load  # noqa: E402

from motia.compiler.ir import App, Handler, Step, Topic  # noqa: E402
from motia.runner._loop import run as run_loop  # noqa: E402
from motia.runner.app import Runtime  # noqa: E402
from motia.runner.config import RunConfig  # noqa: E402
from motia.runner.hooks import Hooks  # noqa: E402

TARGET = 5000  # events/s

HANDLERS = {
    "orders.py": ('async def handler(req, ctx):\n'
                  '    await ctx.emit({"topic": "order.placed", "data": req.body})\n'
                  '    return {"status": 202, "body": {"ok": True}}\n'),
    "charge.py": ('async def handler(order, ctx):\n'
                  '    await ctx.emit({"topic": "order.charged", "data": order})\n'),
    "ship.py": "async def handler(order, ctx):\n    return None\n",
}


class Finished(Hooks):
    """Wall-clock time each trace's last hop finished, and how many event hops ran."""

    def __init__(self) -> None:
        self.done: dict[str, float] = {}
        self.hops = 0

    def after_invoke(self, step: str, ctx: Any, duration: float, error: Any) -> None:
        if step in ("charge", "ship") and error is None:
            self.hops += 1
            if step == "ship":
                self.done[ctx.trace_id] = time.time()


def chain_app(root: Path) -> App:
    (root / "steps").mkdir(parents=True, exist_ok=True)
    for name, text in HANDLERS.items():
        (root / "steps" / name).write_text(text)
    schema = {"type": "object", "required": ["id"], "properties": {"id": {"type": "integer"}}}
    return App(name="bench-events", root=str(root), topics=(
        Topic("order.placed", schema), Topic("order.charged", schema)), steps=(
        Step(name="orders", type="api", method="POST", path="/orders", body=schema,
             emits=("order.placed",), handler=Handler("steps/orders.py")),
        Step(name="charge", type="event", subscribes=("order.placed",),
             emits=("order.charged",), handler=Handler("steps/charge.py")),
        Step(name="ship", type="event", subscribes=("order.charged",),
             handler=Handler("steps/ship.py")),
    ))


async def measure(runtime: Runtime, finished: Finished, args: argparse.Namespace,
                  **extra: Any) -> dict[str, Any]:
    """One load run; events/s and end-to-end latencies of the requests it recorded."""
    pids = [w.pid for w in runtime.pool.workers if w.pid]
    cpu = time.process_time() + cpu_seconds(pids)
    hops = finished.hops
    result = await run_load(f"{runtime.url}/orders", args, method="POST", json='{"id": 1}',
                            record=True, **extra)
    sent: dict[str, float] = result["sent"]
    deadline = time.monotonic() + 10
    while any(t not in finished.done for t in sent) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    cpu = time.process_time() + cpu_seconds(pids) - cpu
    latencies = [finished.done[t] - s for t, s in sent.items() if t in finished.done]
    span = max((finished.done[t] for t in sent if t in finished.done), default=0) - min(
        sent.values(), default=0)
    return {
        "events_per_s": 2 * len(latencies) / span if span > 0 else 0.0,
        # server CPU (runtime + workers) per event hop, the API request's share included
        "cpu_us": cpu / max(finished.hops - hops, 1) * 1e6,
        "requests_per_s": result["rps"], "lost": len(sent) - len(latencies),
        "p50_ms": percentile(latencies, 0.50) * 1000, "p99_ms": percentile(latencies, 0.99) * 1000,
    }


def line(name: str, m: dict[str, Any]) -> str:
    return (f"events {name:<17} {m['events_per_s']:>8,.0f} events/s  "
            f"({m['requests_per_s']:,.0f} req/s)  e2e p50 {m['p50_ms']:6.2f} ms  "
            f"p99 {m['p99_ms']:6.2f} ms  server CPU {m['cpu_us']:4.0f} us/event  "
            f"unfinished {m['lost']}")


async def main(args: argparse.Namespace) -> None:
    root = Path(tempfile.mkdtemp(prefix="motia-bench-events-"))
    finished = Finished()
    config = RunConfig(state="memory", events="memory", port=0, log_format="none", eager=True)
    try:
        async with Runtime(chain_app(root), config, hooks=(finished,)) as runtime:
            peak = await measure(runtime, finished, args)
            print(line("max rate", peak), flush=True)
            # two events per request
            target = await measure(runtime, finished, args, rate=f"{TARGET / 2 / 2:.1f}",
                                   concurrency=max(args.concurrency, 256))
            print(line("at 2,500 events/s", target), flush=True)
            half_rate = peak["events_per_s"] / 2 / 2
            half = await measure(runtime, finished, args, rate=f"{half_rate:.1f}",
                                 concurrency=max(args.concurrency, 256))
            print(line("at half of max", half), flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    if args.readme:
        update_rows("events", [
            row("events", "memory bus, API + 2 hops, max rate", peak["events_per_s"],
                peak["p50_ms"], peak["p99_ms"], f"{args.concurrency} conns", "-"),
            row("events", "memory bus, API + 2 hops, at 2,500 events/s", target["events_per_s"],
                target["p50_ms"], target["p99_ms"], "2,500 events/s", "-"),
            row("events", "memory bus, API + 2 hops, at half of max", half["events_per_s"],
                half["p50_ms"], half["p99_ms"], f"{half_rate * 2:,.0f} events/s", "-"),
        ])
    ok = peak["events_per_s"] >= TARGET and target["p99_ms"] < 20
    print(f"events target >= 5,000 events/s and p99 < 20 ms at 2,500 events/s: "
          f"{'met' if ok else 'NOT met'} ({peak['events_per_s']:,.0f} events/s, "
          f"p99 {target['p99_ms']:.1f} ms; at half of max p99 {half['p99_ms']:.1f} ms)",
          flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--no-readme", dest="readme", action="store_false",
                        help="do not merge the figures into bench/README.md")
    run_loop(main(parser.parse_args()))
