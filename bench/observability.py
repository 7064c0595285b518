"""What metrics and traces cost a request: the gateway bench's Python step, three ways.

    .venv/bin/python bench/observability.py [--duration 5] [--rounds 2]

In one run, under the same load generator as bench/gateway.py (`raw` client): `GET /hello`
as a Motia Python API step with metrics off (MOTIA_METRICS=0), with metrics on (the
default; OpenTelemetry off), and with metrics on and OpenTelemetry exporting every span
over OTLP/HTTP to a receiver in another process (bench/_otlp_sink.py, which accepts and
drops). Prints requests/s and the server's CPU per request for each, the ratio of metrics
on to off (target: >= 0.95) and what OpenTelemetry adds per request.
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
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _readme import row, update_rows  # noqa: E402
from gateway import hello_app, measured  # noqa: E402

from motia.runner.app import Runtime
from motia.runner.config import RunConfig

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
