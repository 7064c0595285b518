"""Helpers shared by the Workbench browser tests (conftest.py holds the fixtures).

Chromium and Node.js follow the suite's rule for services: missing, the tests skip with
a one-line reason; missing under MOTIA_REQUIRE_SERVICES=1 (as .ci/run sets), they fail.
Screenshots go to test-artifacts/workbench/; with MOTIA_UPDATE_SCREENSHOTS=1 they are
also copied to docs/screenshots/ for the README.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from cdp import Page, find_chromium

from motia.compiler.ir import App, Flow, Handler, Step, Topic

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "workbench"
DOCS_SCREENSHOTS = REPO / "docs" / "screenshots"


def _require(ok: bool, reason: str) -> None:
    if ok:
        return
    if os.environ.get("MOTIA_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} and MOTIA_REQUIRE_SERVICES=1", pytrace=False)
    pytest.skip(reason)


def require_chromium() -> str:
    """The Chromium executable; skip (or fail under MOTIA_REQUIRE_SERVICES=1) without one."""
    found = find_chromium()
    _require(found is not None, "chromium not found on PATH (apt-get install chromium, or set MOTIA_CHROMIUM)")
    assert found is not None
    return found


def require_node() -> None:
    """The example app has Node.js steps: the same rule as tests/conftest.py's "node"."""
    _require(bool(os.environ.get("MOTIA_NODE") or shutil.which("node")),
             "Node.js not found on PATH (set MOTIA_NODE)")


async def screenshot(page: Page, name: str) -> Path:
    """Save test-artifacts/workbench/<name>.png (and docs/screenshots/ when asked)."""
    path = await page.screenshot(ARTIFACTS / f"{name}.png")
    if os.environ.get("MOTIA_UPDATE_SCREENSHOTS") == "1":
        DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOCS_SCREENSHOTS / f"workbench-{name}.png")
    return path


def fifty_steps() -> App:
    """A 50-step app: an API and a cron feeding a fan-out tree of event and noop steps
    through topics, some steps in no flow, long names: the diagram's worst honest case."""
    steps = [
        Step(name="incoming-order-webhook", type="api", method="POST", path="/orders/{id}/events",
             emits=("t0",), flows=("main",), handler=Handler("steps/s0.py")),
        Step(name="nightly-reconciliation-job", type="cron", cron="0 3 * * *", emits=("t1",),
             handler=Handler("steps/cron.py")),
    ]
    topics = [Topic("t0"), Topic("t1")]
    for i in range(2, 50):
        kind = "noop" if i % 9 == 0 else "event"
        emits = (f"t{i}",) if kind == "event" else ()
        topics += [Topic(f"t{i}")] if emits else []
        steps.append(Step(
            name=f"step-{i:02d}-{'review' if kind == 'noop' else 'process'}", type=kind,
            subscribes=(f"t{(i - 2) // 2}",), emits=emits, flows=("main",) if i % 4 else (),
            handler=Handler(f"steps/s{i}.py") if kind == "event" else None,
        ))
    return App(name="fifty", root="/fifty", topics=tuple(topics), flows=(Flow("main"),),
               steps=tuple(steps))
