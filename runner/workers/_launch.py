"""How to start a worker for a step: the command line, its environment, finding Node.js."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

from motia.compiler.ir import MIDDLEWARE_PREFIX, App, Step
from motia.errors import HandlerLoadError

NODE_WORKER = Path(__file__).with_name("node_worker.js")
PYTHON_WORKER_MODULE = "motia.runner.workers.python_worker"


def worker_config(app: App, step: Step) -> str:
    """The one JSON argument both workers take (visible in `ps`, which helps debugging)."""
    assert step.handler is not None
    return json.dumps({
        "step": step.name, "type": step.type, "root": app.root, "handler": step.handler.path,
        "function": step.handler.function, "concurrency": step.concurrency,
        "middleware": step.name.startswith(MIDDLEWARE_PREFIX),
    }, separators=(",", ":"))


def worker_command(app: App, step: Step, node: str | None = None) -> list[str]:
    """argv for one worker of `step`; HandlerLoadError when its runtime is missing."""
    assert step.handler is not None
    config = worker_config(app, step)
    if step.handler.language == "node":
        return [find_node(step, node), str(NODE_WORKER), config]
    return [sys.executable, "-m", PYTHON_WORKER_MODULE, config]


def worker_env(step: Step) -> dict[str, str]:
    env = dict(os.environ)
    if step.handler is not None and step.handler.language == "python":
        env["PYTHONUNBUFFERED"] = "1"  # a handler's print() reaches the log at once
    return env


def find_node(step: Step, explicit: str | None = None) -> str:
    """The node executable: `explicit`, else $MOTIA_NODE, else `node` on PATH."""
    handler = step.handler.path if step.handler else step.name
    wanted = explicit or os.environ.get("MOTIA_NODE")
    if wanted:
        found = shutil.which(wanted)
        if found is None:
            source = "MOTIA_NODE" if not explicit else "the node option"
            raise HandlerLoadError(
                step.name, f"{handler}: {source} names {wanted!r}, which is not an executable: "
                "point it at a Node.js 20+ `node` binary", type="NodeNotFound")
        return found
    found = shutil.which("node")
    if found is None:
        raise HandlerLoadError(
            step.name, f"{handler}: Node.js is needed to run this handler but `node` is not on "
            "PATH: install Node.js 20 or newer, or set MOTIA_NODE to its path",
            type="NodeNotFound")
    return found
