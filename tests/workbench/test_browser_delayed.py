"""The Workbench's trace view shows a delayed emit: when it is due, waiting, then published."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from cdp import Page
from wb_support import screenshot

from motia.testing import TestApp

pytestmark = pytest.mark.asyncio(loop_scope="module")

YAML = """
    version: 1
    app: later
    topics:
      nudge: {}
    steps:
      ask:
        type: api
        method: POST
        path: /ask
        emits: [nudge]
        handler: steps/ask.py
      nudged:
        type: event
        subscribes: [nudge]
        handler: steps/nudged.py
"""
FILES = {
    "steps/ask.py": """
        async def handler(req, ctx):
            await ctx.emit({"topic": "nudge", "data": {}, "delay": "2s"})
            return {"status": 202, "body": {}}
        """,
    "steps/nudged.py": """
        async def handler(data, ctx):
            await ctx.state.set("nudged", "n", True)
        """,
}


async def test_a_trace_shows_a_delayed_emit_waiting_then_published(page: Page, tmp_path: Path) -> None:
    (tmp_path / "steps").mkdir()
    (tmp_path / "motia.yaml").write_text(textwrap.dedent(YAML))
    for rel, text in FILES.items():
        (tmp_path / rel).write_text(textwrap.dedent(text))
    async with TestApp(tmp_path) as app:
        # Given a request whose handler emitted an event with a 2 s delay
        res = await app.request("POST", "/ask")
        trace_id = res.headers["x-trace-id"]
        # When its trace is opened before the event is due
        await page.goto(f"{app.url}/__motia/#/traces/{trace_id}")
        await page.wait_for_selector('.span[data-step="ask"] .delayed')
        # Then the emit says it is delayed until when, and waiting
        text = await page.text('.span[data-step="ask"] .delayed')
        assert text.startswith(" (delayed until ") and text.endswith(", waiting)")
        await screenshot(page, "trace-delayed")
        # And once it went out and was handled, the reopened trace says it was published
        await app.wait_until(lambda: app.state.get("nudged", "n"), timeout=10)
        await page.goto(f"{app.url}/__motia/#/traces")
        await page.goto(f"{app.url}/__motia/#/traces/{trace_id}")
        await page.wait_for_selector('.span[data-step="nudged"]')
        text = await page.text('.span[data-step="ask"] .delayed')
        assert text.startswith(" (delayed until ") and text.endswith(", published)")
