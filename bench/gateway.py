"""Gateway throughput: bare aiohttp vs the same endpoint as a Motia API step (Python, Node.js).

    .venv/bin/python bench/gateway.py [--duration 5] [--concurrency 32]

In one run, under the same load generator (bench/_load.py, in a separate process so it
does not share the server's event loop): a bare aiohttp handler returning JSON, then
`GET /hello` as a Motia API step whose handler runs in a Python worker, then in a Node.js
worker. Prints requests/s, p50/p99 and the ratio to bare aiohttp, one line per figure.
Bare aiohttp runs in its own process on asyncio's loop (what `web.run_app` gives), and
again on uvloop when it is installed (printed for information; ratios are to the first).
Target (issue 16): Motia Python and Node.js >= 0.65x bare aiohttp under wrk, >= 0.6x
under the raw client.

Everything runs once per client: `wrk -t2 -c64` (Debian's wrk, when installed), and
bench/_load.py's two: aiohttp's ClientSession
(the "aiohttp client load loop" the issue names) and `raw`, plain HTTP/1.1 at a tenth of
its CPU per request. Both share the 2 cores with the server; the aiohttp client caps
bare aiohttp at its own speed, which flatters the ratio, so the raw line is the stricter
one and both are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _readme import row, update_rows  # noqa: E402

from motia.compiler.ir import App, Handler, Step
from motia.runner._loop import run as run_loop
from motia.runner.app import Runtime
from motia.runner.config import RunConfig

HERE = Path(__file__).resolve().parent
# load generator clients: bench/_load.py's two, and Debian's wrk (`wrk -t2 -c64`) when installed
CLIENTS = ("aiohttp", "raw", *(("wrk",) if shutil.which("wrk") else ()))
#: issue 16: Motia's API steps against bare aiohttp, per load generator
TARGETS = {"wrk": 0.65, "raw": 0.6}
WRK_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}
PY_HANDLER = 'async def handler(req, ctx):\n    return {"status": 200, "body": {"hello": "world"}}\n'
JS_HANDLER = "exports.handler = async (req, ctx) => ({ status: 200, body: { hello: 'world' } });\n"


async def run_wrk(url: str, args: argparse.Namespace) -> dict[str, Any]:
    """`wrk -t2 -c64 -dDs --latency url` (the issue's command), parsed like _load.py's result."""
    command = ["wrk", "-t2", f"-c{args.wrk_connections}", f"-d{args.duration:g}s", "--latency",
               url]
    proc = await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.PIPE)
    out = (await proc.communicate())[0].decode()
    if proc.returncode != 0:
        raise SystemExit(f"wrk failed ({proc.returncode}):\n{out}")

    def latency(pct: str) -> float:
        found = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        return float(found[1]) * WRK_UNITS[found[2]] if found else float("nan")

    requests = int(re.search(r"(\d+) requests in", out)[1])  # type: ignore[index]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                        out)
    errors = (int(bad[1]) if bad else 0) + (sum(map(int, sockets.groups())) if sockets else 0)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])  # type: ignore[index]
    return {"requests": requests, "errors": errors, "rps": rps, "p50_ms": latency("50"),
            "p99_ms": latency("99")}


async def run_load(url: str, args: argparse.Namespace, **extra: Any) -> dict[str, Any]:
    """Run bench/_load.py in its own process against `url`; its JSON result."""
    if extra.get("client") == "wrk":
        return await run_wrk(url, args)
    command = [sys.executable, str(HERE / "_load.py"), url, "--concurrency",
               str(args.concurrency), "--duration", str(args.duration), "--warmup", "1"]
    for key, value in extra.items():
        command += [f"--{key}"] if value is True else [f"--{key}", str(value)]
    proc = await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"load generator failed ({proc.returncode})")
    result: dict[str, Any] = json.loads(out)
    return result


def cpu_seconds(pids: list[int]) -> float:
    """CPU time (user + system) used so far by processes `pids` (from /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


async def measured(
    url: str, args: argparse.Namespace, pids: list[int], client: str = "raw"
) -> dict[str, Any]:
    """run_load plus the server side's CPU per request (this process and `pids`): a figure
    that, unlike requests/s, hardly moves when other work shares the machine."""
    before = time.process_time() + cpu_seconds(pids)
    result = await run_load(url, args, client=client)
    used = time.process_time() + cpu_seconds(pids) - before
    result["cpu_us"] = used / max(result["requests"], 1) * 1e6  # warm-up included: upper bound
    return result


BARE = """
import asyncio, sys
from aiohttp import web

async def hello(request):
    return web.json_response({"hello": "world"})

async def main():
    app = web.Application()
    app.router.add_get("/hello", hello)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    print(runner.addresses[0][1], flush=True)
    await asyncio.Event().wait()

if sys.argv[1] == "uvloop":
    import uvloop
    uvloop.run(main())
else:
    asyncio.run(main())
"""


@asynccontextmanager
async def bare_aiohttp(loop: str = "asyncio") -> AsyncIterator[tuple[str, int]]:
    """A bare aiohttp server in its own process, on asyncio's loop (what `web.run_app`
    gives) or on uvloop: the URL and its pid."""
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", BARE, loop,
                                                stdout=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    port = int(await proc.stdout.readline())
    try:
        yield f"http://127.0.0.1:{port}/hello", proc.pid
    finally:
        proc.kill()
        await proc.wait()


def hello_app(root: Path, language: str) -> App:
    """A one-step project: GET /hello answered by a Python or a Node.js handler."""
    (root / "steps").mkdir(parents=True, exist_ok=True)
    name = "hello.py" if language == "python" else "hello.js"
    (root / "steps" / name).write_text(PY_HANDLER if language == "python" else JS_HANDLER)
    step = Step(name="hello", type="api", method="GET", path="/hello",
                handler=Handler(f"steps/{name}", language=language))  # type: ignore[arg-type]
    return App(name=f"bench-{language}", root=str(root), steps=(step,))


@asynccontextmanager
async def motia(language: str) -> AsyncIterator[tuple[str, Runtime]]:
    root = Path(tempfile.mkdtemp(prefix="motia-bench-"))
    try:
        config = RunConfig(state="memory", events="memory", port=0, log_format="none",
                           eager=True)
        async with Runtime(hello_app(root, language), config) as runtime:
            yield f"{runtime.url}/hello", runtime
    finally:
        shutil.rmtree(root, ignore_errors=True)


def line(name: str, result: dict[str, Any], bare: dict[str, Any] | None) -> str:
    text = (f"gateway {name:<22} {result['rps']:>8,.0f} req/s  p50 {result['p50_ms']:6.2f} ms  "
            f"p99 {result['p99_ms']:6.2f} ms  server CPU {result['cpu_us']:5.0f} us/req  "
            f"errors {result['errors']}")
    if bare is not None:
        text += f"  ratio to bare {result['rps'] / bare['rps']:.2f}"
    return text


async def one_round(args: argparse.Namespace, client: str) -> dict[str, dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {}
    async with bare_aiohttp() as (url, pid):
        results["bare aiohttp"] = await measured(url, args, [pid], client)
    if importlib.util.find_spec("uvloop") is not None:
        async with bare_aiohttp("uvloop") as (url, pid):
            results["bare aiohttp+uvloop"] = await measured(url, args, [pid], client)
    for language in ["python"] + (["node"] if shutil.which("node") else []):
        async with motia(language) as (url, runtime):
            pids = [w.pid for w in runtime.pool.workers if w.pid]
            results[f"motia {language}"] = await measured(url, args, pids, client)
    return results


async def main(args: argparse.Namespace) -> None:
    # Shared machines are noisy: run every variant in each round, keep each one's best.
    best: dict[str, dict[str, dict[str, Any]]] = {client: {} for client in CLIENTS}
    for _ in range(args.rounds):
        for client in CLIENTS:
            for name, result in (await one_round(args, client)).items():
                if name not in best[client] or result["rps"] > best[client][name]["rps"]:
                    best[client][name] = result
    rows = []
    for client, results in best.items():
        bare = results["bare aiohttp"]
        for name, result in results.items():
            print(line(f"{name} ({client})", result, None if result is bare else bare),
                  flush=True)
            rows.append(row("gateway", f"{name} GET /hello, {client} client", result["rps"],
                            result["p50_ms"], result["p99_ms"], f"{args.concurrency} conns",
                            f"{result['rps'] / bare['rps']:.2f}x bare"))
    for client, results in best.items():
        target = TARGETS.get(client)
        if target is None:  # the aiohttp client caps bare aiohttp: no target is judged on it
            continue
        bare = results["bare aiohttp"]
        for name in ("motia python", "motia node"):
            step = results[name]
            verdict = "met" if step["rps"] >= target * bare["rps"] else "NOT met"
            print(f"gateway target {name} >= {target:.0%} of bare aiohttp ({client} client): "
                  f"{verdict} ({step['rps'] / bare['rps']:.0%}; server CPU per request "
                  f"{bare['cpu_us'] / step['cpu_us']:.0%} of bare's efficiency)", flush=True)
    if args.readme:
        update_rows("gateway", rows)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--wrk-connections", type=int, default=64,
                        help="connections of the wrk client (-c)")
    parser.add_argument("--no-readme", dest="readme", action="store_false",
                        help="do not merge the figures into bench/README.md")
    run_loop(main(parser.parse_args()))
