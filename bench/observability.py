"""What metrics and traces cost a request: the gateway bench's Python step, three ways.

    .venv/bin/python bench/observability.py [--duration 5] [--rounds 2]

In one run, under the same load generator as bench/gateway.py (`raw` client): `GET /hello`
as a Motia Python API step with metrics off (MOTIA_METRICS=0), with metrics on (the
default; OpenTelemetry off), and with metrics on and OpenTelemetry exporting every span
over OTLP/HTTP to a receiver in another process (bench/_otlp_sink.py, which accepts and
drops). Prints requests/s and the server's CPU per request for each, the ratio of metrics
on to off (target: >= 0.95) and what OpenTelemetry adds per request.

Then, because a shared machine moves requests/s by more than the 5% this judges, the
same comparison without the network or the worker: `Gateway.handle` called directly on
prepared requests with an invoker that answers at once (firing the hooks a real one
does), CPU per call, the best of 7 alternating rounds of each variant.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _readme import row, update_rows  # noqa: E402
from gateway import hello_app, measured  # noqa: E402

from motia.compiler.ir import App, Handler, Step
from motia.runner._fasthooks import FastHookSet
from motia.runner.app import Runtime
from motia.runner.config import RunConfig
from motia.runner.gateway import Gateway
from motia.runner.hooks import Hooks
from motia.runner.logs import Logger
from motia.runner.metrics import Metrics
from motia.runner.tracing import TraceStore
from motia.runner.workers.api import InvocationContext, InvocationResult

HERE = Path(__file__).resolve().parent
VARIANTS = ("metrics off", "metrics on", "metrics + otel")


@contextmanager
def otlp_sink() -> Iterator[str]:
    """A process accepting OTLP/HTTP exports and dropping them; its traces endpoint."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen([sys.executable, str(HERE / "_otlp_sink.py"), str(port)],
                            stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
        yield f"http://127.0.0.1:{port}/v1/traces"
    finally:
        proc.terminate()
        proc.wait(10)


@asynccontextmanager
async def motia_python(variant: str, endpoint: str) -> AsyncIterator[tuple[str, Runtime]]:
    root = Path(tempfile.mkdtemp(prefix="motia-bench-"))
    if variant == "metrics + otel":
        os.environ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] = endpoint
    try:
        config = RunConfig(state="memory", events="memory", port=0, log_format="none",
                           eager=True, metrics=variant != "metrics off")
        async with Runtime(hello_app(root, "python"), config) as runtime:
            yield f"{runtime.url}/hello", runtime
    finally:
        os.environ.pop("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", None)
        shutil.rmtree(root, ignore_errors=True)


class _AtOnce:
    """An invoker whose handler answers at once, firing the hooks the worker pool does."""

    def __init__(self, hooks: Hooks) -> None:
        self.hooks = hooks

    async def invoke(self, step: Step, payload: Any, ctx: InvocationContext) -> InvocationResult:
        self.hooks.before_invoke(step.name, ctx, payload)
        self.hooks.after_invoke(step.name, ctx, 0.0001, None)
        return InvocationResult({"status": 200, "body": {"hello": "world"}})

    async def publish_emits(self, *args: Any) -> list[Any]:
        return []


async def handle_cost(metrics: bool, calls: int = 3000) -> float:
    """CPU microseconds per `Gateway.handle` of GET /hello (see the module docstring)."""
    from aiohttp.test_utils import make_mocked_request

    step = Step(name="hello", type="api", method="GET", path="/hello",
                handler=Handler("steps/hello.py"))
    hooks = FastHookSet(TraceStore())
    if metrics:
        hooks.add(Metrics())
    gateway = Gateway(_AtOnce(hooks), App(name="bench", root=".", steps=(step,)),
                      RunConfig(state="memory", log_format="none"),
                      Logger(hooks, fmt="none"), hooks=hooks)
    requests = [make_mocked_request("GET", "/hello") for _ in range(calls)]
    started = time.process_time()
    for request in requests:
        await gateway.handle(request)
    return (time.process_time() - started) / calls * 1e6


async def in_process() -> None:
    best = {False: float("inf"), True: float("inf")}
    for _ in range(7):
        for metrics in best:
            best[metrics] = min(best[metrics], await handle_cost(metrics))
    print(f"observability in-process Gateway.handle: metrics off {best[False]:.1f} us, "
          f"metrics on {best[True]:.1f} us ({best[True] - best[False]:+.1f} us per request)",
          flush=True)


async def main(args: argparse.Namespace) -> None:
    best: dict[str, dict[str, Any]] = {}
    with otlp_sink() as endpoint:
        for n in range(args.rounds):
            # alternate the order each round so drift on a shared machine hits both ends
            for variant in VARIANTS if n % 2 == 0 else tuple(reversed(VARIANTS)):
                async with motia_python(variant, endpoint) as (url, runtime):
                    pids = [w.pid for w in runtime.pool.workers if w.pid]
                    result = await measured(url, args, pids, "raw")
                if variant not in best or result["rps"] > best[variant]["rps"]:
                    best[variant] = result
    off = best["metrics off"]
    rows = []
    for variant in VARIANTS:
        result = best[variant]
        print(f"observability motia python ({variant:<14}) {result['rps']:>8,.0f} req/s  "
              f"p50 {result['p50_ms']:6.2f} ms  p99 {result['p99_ms']:6.2f} ms  server CPU "
              f"{result['cpu_us']:5.0f} us/req  errors {result['errors']}  ratio to metrics "
              f"off {result['rps'] / off['rps']:.2f}", flush=True)
        rows.append(row("observability", f"motia python GET /hello, {variant}", result["rps"],
                        result["p50_ms"], result["p99_ms"], f"{args.concurrency} conns",
                        f"{result['rps'] / off['rps']:.2f}x metrics off"))
    on, traced = best["metrics on"], best["metrics + otel"]
    verdict = "met" if on["rps"] >= 0.95 * off["rps"] else "NOT met"
    print(f"observability target metrics on >= 95% of metrics off: {verdict} "
          f"({on['rps'] / off['rps']:.1%} req/s; CPU per request "
          f"{on['cpu_us'] - off['cpu_us']:+.1f} us)", flush=True)
    print(f"observability OpenTelemetry export costs {traced['cpu_us'] - on['cpu_us']:+.1f} us "
          f"of server CPU per request ({traced['rps'] / on['rps']:.1%} of metrics-on req/s)",
          flush=True)
    await in_process()
    if args.readme:
        update_rows("observability", rows)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--no-readme", dest="readme", action="store_false",
                        help="do not merge the figures into bench/README.md")
    asyncio.run(main(parser.parse_args()))
