"""Projects for the `motia build` / `motia deploy` tests: the example app under a unique
name (so the end-to-end test's queues and keys collide with nobody's), built through the
real CLI entry point."""

from __future__ import annotations

import io
import shutil
import uuid
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

from motia.cli import main

REPO = Path(__file__).resolve().parents[2]


def example(root: Path, *, app: str | None = None) -> Path:
    """A copy of the repository's example app in `root`, renamed to a unique app; root."""
    root.mkdir(parents=True, exist_ok=True)
    name = app or f"shop{uuid.uuid4().hex[:8]}"
    text = (REPO / "motia.yaml").read_text().replace("app: shop\n", f"app: {name}\n", 1)
    (root / "motia.yaml").write_text(text)
    for folder in ("steps", "schemas"):
        shutil.copytree(REPO / folder, root / folder)
    return root


def cli(*args: str) -> tuple[int, str, str]:
    """`motia ARGS...` in this process: (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def build(root: Path, *args: str) -> Path:
    """`motia build ROOT ARGS...`, which must succeed; the deploy/ folder."""
    code, out, err = cli("build", str(root), *args)
    assert code == 0, out + err
    return root / "deploy"
