"""Small projects written into tmp_path for the runtime tests: motia.yaml + handler files."""

from __future__ import annotations

import importlib.util
import shutil
import sys
import textwrap
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[2]


def services() -> ModuleType:
    """tests/conftest.py (require_service, the service URLs) by its path: `from conftest
    import` finds whichever conftest pytest imported last when several folders run."""
    module = sys.modules.get("tests.conftest")
    if module is None:
        spec = importlib.util.spec_from_file_location("tests.conftest", REPO / "tests" / "conftest.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["tests.conftest"] = module
        spec.loader.exec_module(module)
    return module


def write_project(root: Path, yaml: str, files: dict[str, str]) -> Path:
    """Write motia.yaml and `files` (relative path -> source) under `root`; the yaml path."""
    root.mkdir(parents=True, exist_ok=True)
    source = root / "motia.yaml"
    source.write_text(textwrap.dedent(yaml).lstrip())
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    return source


def copy_example(root: Path) -> Path:
    """A copy of the repository's example app (motia.yaml, steps/, schemas/) under `root`."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "motia.yaml", root / "motia.yaml")
    for folder in ("steps", "schemas"):
        if (REPO / folder).is_dir():
            shutil.copytree(REPO / folder, root / folder)
    return root / "motia.yaml"


# A project where an event step fails until state says it was fixed (dead letters, replay).
FIXABLE_YAML = """
    version: 1
    app: fixable
    defaults: {retries: 1, backoff: {initial: 50ms, factor: 1, max: 50ms}, timeout: 5s}
    schemas:
      Job: {type: object, required: [id], properties: {id: {type: string}}}
    topics:
      job.created: {schema: Job}
    flows:
      jobs: {}
    steps:
      create-job:
        type: api
        method: POST
        path: /jobs
        body: Job
        emits: [job.created]
        flows: [jobs]
        handler: steps/create_job.py
      run-job:
        type: event
        subscribes: [job.created]
        flows: [jobs]
        handler: steps/run_job.py
"""

FIXABLE_FILES = {
    "steps/create_job.py": """
        async def handler(req, ctx):
            await ctx.emit({"topic": "job.created", "data": req.body})
            return {"status": 202, "body": {"queued": req.body["id"]}}
    """,
    "steps/run_job.py": """
        async def handler(job, ctx):
            await ctx.state.incr("attempts", job["id"], 1)
            if not await ctx.state.get("config", "fixed"):
                raise RuntimeError(f"job {job['id']} cannot run yet")
            await ctx.state.set("done", job["id"], {"attempt": ctx.attempt})
    """,
}
