"""Worker round trips against calling the handler in-process and spawning a process per call.

    .venv/bin/python bench/workers.py [--calls 5000] [--concurrent 20000] [--spawn 20]

Runs, in one process tree and the same minute (these machines are noisy):
  (a) in-process   `await handler(data, ctx)` in this interpreter
  (b) python worker `pool.invoke` through a long-lived Python worker
  (c) node worker   `pool.invoke` through a long-lived Node.js worker
  (d) spawn/call    a fresh `python -c` that imports the handler and calls it, per call
                    (what a spawn-per-request framework pays)
For each: sequential latency (p50/p99 of one call at a time) and throughput (many calls in
flight). Targets: a Python-worker round trip adds < 150 us at p50 over in-process; a worker
sustains >= 20,000 trivial invocations/s; both >= 100x faster than spawn-per-call.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from motia.compiler.ir import App, Handler, Step
from motia.runner.logs import Logger
from motia.runner.state.memory import MemoryStore
from motia.runner.workers.api import InvocationContext
from motia.runner.workers.pool import WorkerPool

PY_HANDLER = "async def handler(data, ctx):\n    return data\n"
JS_HANDLER = "exports.handler = async (data, ctx) => data;\n"
DATA = {"id": "pay_1", "amount": 1200, "currency": "EUR"}
CTX = InvocationContext(trace_id="t" * 32, event_id="e" * 32)


@dataclass
class Figures:
    name: str
    p50: float  # seconds
    p99: float
    sequential: float  # invocations/s, one at a time
    concurrent: float  # invocations/s, many in flight


async def sequential(call: Callable[[], Awaitable[object]], n: int) -> list[float]:
    samples = []
    clock = time.perf_counter
    for _ in range(n):
        start = clock()
        await call()
        samples.append(clock() - start)
    return samples


async def concurrent(call: Callable[[], Awaitable[object]], total: int, width: int) -> float:
    per_task = total // width

    async def loop() -> None:
        for _ in range(per_task):
            await call()

    start = time.perf_counter()
    await asyncio.gather(*(loop() for _ in range(width)))
    return per_task * width / (time.perf_counter() - start)


def figures(name: str, samples: list[float], rate: float) -> Figures:
    samples = sorted(samples)
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
    return Figures(name, statistics.median(samples), p99, len(samples) / sum(samples), rate)


async def measure(call: Callable[[], Awaitable[object]], name: str, args: argparse.Namespace) -> Figures:
    await sequential(call, 200)  # warm up
    samples = await sequential(call, args.calls)
    rate = await concurrent(call, args.concurrent, args.width)
    return figures(name, samples, rate)


def spawn_figures(root: Path, n: int) -> Figures:
    handler = root / "steps" / "trivial.py"
    code = (f"import asyncio, importlib.util, sys; sys.path.insert(0, {str(root)!r}); "
            f"spec = importlib.util.spec_from_file_location('h', {str(handler)!r}); "
            "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m); "
            f"print(asyncio.run(m.handler({DATA!r}, None)))")
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, stdout=subprocess.DEVNULL)
        samples.append(time.perf_counter() - start)
    width = os.cpu_count() or 2
    start = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL) for _ in range(n)]
    for proc in procs:
        proc.wait()
    rate = n / (time.perf_counter() - start)
    del width
    return figures("spawn per call", samples, rate)


def write_project(root: Path) -> App:
    (root / "steps").mkdir()
    (root / "steps" / "trivial.py").write_text(PY_HANDLER)
    (root / "steps" / "trivial.js").write_text(JS_HANDLER)
    return App(name="bench", root=str(root), steps=(
        Step("py", "event", Handler("steps/trivial.py"), concurrency=256),
        Step("js", "event", Handler("steps/trivial.js", language="node"), concurrency=256),
    ))


async def run(args: argparse.Namespace) -> list[Figures]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        app = write_project(root)
        sys.path.insert(0, str(root / "steps"))
        import trivial  # type: ignore[import-not-found]

        results = [await measure(lambda: trivial.handler(DATA, None), "in-process", args)]
        pool = WorkerPool(app, MemoryStore(), Logger(fmt="none"), eager=False)
        try:
            results.append(await measure(lambda: pool.invoke("py", DATA, CTX), "python worker", args))
            if args.node:
                results.append(await measure(lambda: pool.invoke("js", DATA, CTX), "node worker", args))
        finally:
            await pool.close()
        results.append(spawn_figures(root, args.spawn))
        return results


def report(results: list[Figures]) -> None:
    base, spawn = results[0], results[-1]
    print(f"{'mode':<16}{'p50':>10}{'p99':>10}{'seq inv/s':>12}{'conc inv/s':>12}"
          f"{'p50 vs in-proc':>16}{'speed vs spawn':>16}")
    for f in results:
        print(f"{f.name:<16}{_us(f.p50):>10}{_us(f.p99):>10}{f.sequential:>12,.0f}{f.concurrent:>12,.0f}"
              f"{'+' + _us(f.p50 - base.p50):>16}{spawn.p50 / f.p50:>15,.0f}x")
    for f in results[1:-1]:
        added = f.p50 - base.p50
        print(f"{f.name}: round trip adds {_us(added)} at p50 (target < 150us) "
              f"{'OK' if added < 150e-6 else 'MISS'}")
        print(f"{f.name}: {f.concurrent:,.0f} invocations/s with {ARGS.width} in flight "
              f"(target >= 20,000) {'OK' if f.concurrent >= 20000 else 'MISS'}")
        print(f"{f.name}: {spawn.p50 / f.p50:,.0f}x lower latency and {f.concurrent / spawn.concurrent:,.0f}x "
              f"the throughput of spawn-per-call (target >= 100x) "
              f"{'OK' if spawn.p50 / f.p50 >= 100 and f.concurrent / spawn.concurrent >= 100 else 'MISS'}")


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:,.0f}us" if seconds < 0.01 else f"{seconds * 1e3:,.1f}ms"


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=5000, help="sequential calls per mode")
    parser.add_argument("--concurrent", type=int, default=40000, help="calls in the throughput run")
    parser.add_argument("--width", type=int, default=128, help="calls in flight in the throughput run")
    parser.add_argument("--spawn", type=int, default=20, help="calls for spawn-per-call")
    args = parser.parse_args()
    args.node = bool(os.environ.get("MOTIA_NODE") or shutil.which("node"))
    return args


if __name__ == "__main__":
    ARGS = parse()
    report(asyncio.run(run(ARGS)))
