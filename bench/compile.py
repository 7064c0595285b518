"""Compile time against step count: is every stage of the compiler linear?

Generates apps of 10, 100, 1,000 and 10,000 steps in a temp folder (a small handler
file per step, so the check that each file defines its function reads and parses them) and prints, per size, the best compile time of a
few runs (wall and CPU) and the CPU time per step; then the ratio of the per-step time
at 10,000 steps to the one at 100. Flat is ~1x; a quadratic stage would show as ~100x.

    .venv/bin/python bench/compile.py [--sizes 10,100,1000,10000]

Each app is made of blocks of ten steps, like a real app: an API step (POST with an
inline body schema) that starts a chain of seven event steps, a noop step at its end
and a cron step; topics use a handful of named schemas; steps belong to ten flows.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from motia.compiler import compile_project

NAMED_SCHEMAS = """\
  Order:
    type: object
    required: [id, total]
    properties: {id: {type: string}, total: {type: integer, minimum: 0}}
  Payment:
    type: object
    required: [order_id, amount]
    properties: {order_id: {type: string}, amount: {type: integer}}
  Shipment: {type: object, properties: {carrier: {type: string}, tracking: {type: string}}}
  Receipt: {type: object, properties: {email: {type: string, format: email}}}
  Report: {type: object, additionalProperties: {type: number}}
"""
#: a small handler per file, so the check that each file defines its function reads real code
HANDLER = {
    ".py": 'import json\n\n\nasync def handler(data, ctx):\n    """Log and pass on."""\n'
           '    ctx.logger.info("got", {"n": len(json.dumps(data))})\n',
    ".js": "// Log and pass on.\nexports.handler = async (data, ctx) => {\n"
           "  ctx.logger.info('got', { n: JSON.stringify(data).length });\n};\n",
}
SCHEMA_NAMES = ("Order", "Payment", "Shipment", "Receipt", "Report")


def generate(root: Path, steps: int) -> Path:
    """Write an app of `steps` steps (a multiple of 10, or fewer) with its handler files."""
    (root / "steps").mkdir(parents=True)
    topics: list[str] = []
    body: list[str] = []
    for block in range(0, steps, 10):
        body += _block(block, min(10, steps - block), topics)
    for index in range(steps):
        extension = ".py" if index % 2 == 0 else ".js"
        (root / "steps" / f"s{index}{extension}").write_text(HANDLER[extension])
    lines = ["version: 1", "app: bench", "defaults: {timeout: 10s, retries: 2}", "schemas:",
             NAMED_SCHEMAS.rstrip("\n"), "topics:"]
    lines += [f"  {t}: {{schema: {SCHEMA_NAMES[i % len(SCHEMA_NAMES)]}}}" for i, t in enumerate(topics)]
    lines += ["flows:"] + [f"  flow{f}: {{description: Flow number {f}}}" for f in range(10)]
    lines += ["steps:", *body]
    path = root / "motia.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _block(first: int, count: int, topics: list[str]) -> list[str]:
    """Steps first..first+count-1: api -> 7 events -> noop, and a cron step."""
    flow = f"flow{(first // 10) % 10}"
    lines: list[str] = []
    for index in range(first, first + count):
        offset = index - first
        handler = f"steps/s{index}{'.py' if index % 2 == 0 else '.js'}"
        lines.append(f"  s{index}:")
        if offset == 0:
            topics.append(f"t{index}")
            lines += ["    type: api", "    method: POST", f"    path: /items/{index}/{{id}}",
                      f"    body: {{type: object, properties: {{n{index}: {{type: integer}}}}}}",
                      f"    emits: [t{index}]"]
        elif offset <= 7:
            lines += ["    type: event", f"    subscribes: [t{index - 1}]"]
            if offset < 7 and index + 1 < first + count:
                topics.append(f"t{index}")
                lines.append(f"    emits: [t{index}]")
        elif offset == 8:
            lines += ["    type: noop", f"    subscribes: [t{index - 2}]"]
        else:
            lines += ["    type: cron", "    cron: '*/5 * * * *'", "    timeout: 1m"]
        lines.append(f"    flows: [{flow}]")
        if offset != 8:
            lines.append(f"    handler: {handler}")
    return _fix_dangling(lines, topics)


def _fix_dangling(lines: list[str], topics: list[str]) -> list[str]:
    """A short last block may subscribe to a topic nobody declared; declare it."""
    declared = set(topics)
    for line in lines:
        if "subscribes: [" in line:
            topic = line.split("[", 1)[1].rstrip("]")
            if topic not in declared:
                topics.append(topic)
                declared.add(topic)
    return lines


def best_time(path: Path, runs: int) -> tuple[float, float]:
    """Best wall and best CPU seconds of `runs` compiles of `path`.

    CPU time (this process only) is what the per-step ratio uses: on a machine shared
    with other jobs, wall time also counts the time spent waiting for a core.
    """
    wall = cpu = float("inf")
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = compile_project(path)
        wall = min(wall, time.perf_counter() - start)
        cpu = min(cpu, time.process_time() - start_cpu)
    assert len(result.app.steps) > 0
    return wall, cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,100,1000,10000")
    sizes = [int(s) for s in parser.parse_args(argv).sizes.split(",")]
    per_step: dict[int, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory(prefix="motia-bench-") as tmp:
        compile_project(generate(Path(tmp) / "warmup", 10))  # imports, caches
        for size in sizes:
            path = generate(Path(tmp) / f"app{size}", size)
            runs = 20 if size <= 100 else 3 if size <= 1000 else 2
            wall, cpu = best_time(path, runs)
            per_step[size] = (wall / size, cpu / size)
            print(f"compile {size:>6,} steps: {wall:7.3f} s wall {cpu:7.3f} s cpu  "
                  f"{per_step[size][1] * 1000:6.3f} ms/step cpu  (best of {runs})", flush=True)
    if 100 in per_step and 10000 in per_step:
        cpu_ratio = per_step[10000][1] / per_step[100][1]
        wall_ratio = per_step[10000][0] / per_step[100][0]
        print(f"per-step time at 10,000 vs 100 steps: {cpu_ratio:.2f}x cpu, {wall_ratio:.2f}x wall"
              " (flat is 1x; a quadratic stage would be ~100x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
