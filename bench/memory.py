"""Memory of a warm app: a generated app of 50 Python steps, every worker started (`--eager`).

    .venv/bin/python bench/memory.py [--steps 50] [--node-steps 10] [--rounds 1]

Half the steps are API steps, half event steps, each with its own handler file. Each
variant runs in a fresh process (so one variant's memory never counts toward another's):
it starts the runtime with every worker eager, times that cold start to all workers
ready, invokes each step once, then sums the PSS (proportional set size: shared pages
divided among the processes that share them, /proc/PID/smaps_rollup) of the whole
process tree: the runtime, the fork server if any, every worker.

    fork    Python workers forked from the fork server (the default)
    spawn   MOTIA_PYTHON_WORKERS=spawn: a fresh interpreter per worker (the old design)
    node    --node-steps Node.js steps, for information (Node.js workers are always spawned)

Target (issue 16): fork's tree PSS at most half of spawn's, cold start under 3 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from motia.compiler.ir import App, Handler, Step, Topic  # noqa: E402
from motia.runner.app import Runtime  # noqa: E402
from motia.runner.config import RunConfig  # noqa: E402
from motia.runner.workers.api import InvocationContext  # noqa: E402

PY_HANDLER = ("import json\n\n"
              "async def handler(data, ctx):\n"
              "    return {'status': 200, 'body': json.loads(json.dumps({'ok': True}))}\n")
JS_HANDLER = "exports.handler = async (data) => ({status: 200, body: {ok: true}});\n"
MIB = 1024 * 1024


def generated_app(root: Path, steps: int, language: str) -> App:
    """`steps` steps, alternately API and event, each with its handler file."""
    (root / "steps").mkdir(parents=True, exist_ok=True)
    ext, text = (".py", PY_HANDLER) if language == "python" else (".js", JS_HANDLER)
    built, topics = [], []
    for i in range(steps):
        path = f"steps/s{i:03d}{ext}"
        (root / path).write_text(text)
        handler = Handler(path, "handler", language)
        if i % 2 == 0:
            built.append(Step(name=f"s{i:03d}", type="api", method="POST", path=f"/s{i:03d}",
                              handler=handler))
        else:
            topic = f"topic.{i:03d}"
            topics.append(Topic(topic, None))
            built.append(Step(name=f"s{i:03d}", type="event", subscribes=(topic,),
                              handler=handler))
    return App(name=f"bench-memory-{language}", root=str(root), topics=tuple(topics),
               steps=tuple(built))


def tree(pid: int) -> list[int]:
    """`pid` and every live descendant."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] != "Z":
                parents[int(entry)] = int(fields[1])
    found, frontier = {pid}, {pid}
    while frontier:
        frontier = {p for p, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return sorted(found)


def rollup(pid: int) -> dict[str, int]:
    """Pss, Rss, Private_* of one process in bytes (/proc/PID/smaps_rollup)."""
    values: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as smaps:
            for line in smaps:
                name, _, rest = line.partition(":")
                parts = rest.split()
                if len(parts) == 2 and parts[1] == "kB":
                    values[name] = int(parts[0]) * 1024
    except OSError:
        pass
    return values


async def child(args: argparse.Namespace) -> dict[str, Any]:
    """One variant, measured from inside the process that runs it."""
    root = Path(tempfile.mkdtemp(prefix="motia-bench-memory-"))
    language = "node" if args.child == "node" else "python"
    steps = args.node_steps if language == "node" else args.steps
    plan = generated_app(root, steps, language)
    config = RunConfig(state="memory", events="memory", port=0, log_format="none", eager=True)
    try:
        started = time.perf_counter()
        async with Runtime(plan, config) as runtime:
            cold = time.perf_counter() - started
            ready = sum(len(s["pids"]) for s in runtime.pool.stats().values())
            for step in plan.steps:
                await runtime.pool.invoke(step.name, {"body": {}} if step.type == "api" else {},
                                          InvocationContext(trace_id="t", event_id=step.name))
            await asyncio.sleep(0.5)  # let the workers settle after their first invocation
            pids = tree(os.getpid())
            per = {pid: rollup(pid) for pid in pids}
            workers = [pid for s in runtime.pool.stats().values() for pid in s["pids"]]
            host = per[os.getpid()]
            return {
                "variant": args.child, "steps": steps, "ready": ready, "cold_s": cold,
                "processes": len(pids), "pss": sum(v.get("Pss", 0) for v in per.values()),
                "host_pss": host.get("Pss", 0),
                "worker_pss": sum(per[w].get("Pss", 0) for w in workers) / max(len(workers), 1),
                "worker_rss": sum(per[w].get("Rss", 0) for w in workers) / max(len(workers), 1),
                "worker_private": sum(per[w].get("Private_Clean", 0) + per[w].get(
                    "Private_Dirty", 0) for w in workers) / max(len(workers), 1),
            }
    finally:
        shutil.rmtree(root, ignore_errors=True)


def run_variant(variant: str, args: argparse.Namespace) -> dict[str, Any]:
    env = dict(os.environ)
    env.pop("MOTIA_PYTHON_WORKERS", None)
    if variant == "spawn":
        env["MOTIA_PYTHON_WORKERS"] = "spawn"
    out = subprocess.run(
        [sys.executable, __file__, "--child", variant, "--steps", str(args.steps),
         "--node-steps", str(args.node_steps)], env=env, capture_output=True, text=True,
        check=False)
    if out.returncode != 0:
        raise SystemExit(f"bench/memory.py: the {variant} variant failed:\n{out.stderr}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def line(m: dict[str, Any], spawn: dict[str, Any] | None) -> str:
    ratio = (f"  {m['pss'] / spawn['pss']:.2f}x spawn's"
             if spawn and m["variant"] == "fork" else "")
    return (f"memory {m['variant']:<5} {m['steps']:>3} steps  {m['ready']:>3} workers ready in "
            f"{m['cold_s']:5.2f} s  tree PSS {m['pss'] / MIB:7.1f} MiB ({m['processes']} "
            f"processes){ratio}  per worker PSS {m['worker_pss'] / MIB:5.1f} / RSS "
            f"{m['worker_rss'] / MIB:5.1f} / private {m['worker_private'] / MIB:5.1f} MiB  "
            f"host PSS {m['host_pss'] / MIB:5.1f} MiB")


def main(args: argparse.Namespace) -> None:
    if args.child:
        print(json.dumps(asyncio.run(child(args))), flush=True)
        return
    variants = ["spawn", "fork"] + (["node"] if args.node_steps else [])
    results: dict[str, dict[str, Any]] = {}
    for _ in range(args.rounds):
        for variant in variants:
            results[variant] = run_variant(variant, args)
            print(line(results[variant], results.get("spawn")), flush=True)
    spawn, fork = results["spawn"], results["fork"]
    ok = fork["pss"] <= spawn["pss"] / 2 and fork["cold_s"] < 3.0
    print(f"memory target fork tree PSS <= 0.5x spawn's and cold start < 3 s: "
          f"{'met' if ok else 'NOT met'} ({fork['pss'] / spawn['pss']:.2f}x, "
          f"{fork['cold_s']:.2f} s)", flush=True)

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--node-steps", type=int, default=10,
                        help="Node.js steps in the `node` variant (0: skip it)")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--child", choices=["spawn", "fork", "node"], help=argparse.SUPPRESS)
    main(parser.parse_args())
