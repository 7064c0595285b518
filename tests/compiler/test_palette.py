"""Every picture colours a node kind as the Workbench legend does."""

from __future__ import annotations

import re

from sample_apps import billing

from motia.compiler.html import render_html
from motia.compiler.palette import KINDS, PALETTE
from motia.runner.workbench import STATIC_DIR


def test_the_workbench_stylesheet_uses_the_palette() -> None:
    css = (STATIC_DIR / "style.css").read_text()
    found = dict(re.findall(r"--([a-z-]+):\s*(#[0-9a-f]{6})", css))
    for kind, colours in PALETTE.items():
        assert (found[kind], found[f"{kind}-bg"]) == (colours.stroke, colours.fill), kind


def test_every_step_type_and_node_kind_has_colours() -> None:
    assert KINDS == ("api", "event", "cron", "noop", "topic", "stream", "state")


def test_the_html_document_uses_the_palette() -> None:
    html = render_html(billing())
    for kind, colours in PALETTE.items():
        assert f".n-{kind} rect, i.n-{kind} {{ fill: {colours.fill};" in html
        assert f"stroke: {colours.stroke};" in html
