"""The colours of each kind of node, shared by every picture of the app.

The Workbench legend (runner/workbench/static/style.css, `--<kind>` and `--<kind>-bg`),
the Mermaid export's classDefs and the HTML document all colour a kind the same way, so
a reader who learnt the legend in one reads the others. tests/compiler/test_palette.py
holds the stylesheet to these values.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["KINDS", "PALETTE", "Colours"]


class Colours(NamedTuple):
    """A node kind's outline (and text accent), its fill, and whether it is dashed."""

    stroke: str
    fill: str
    dashed: bool = False


PALETTE: dict[str, Colours] = {
    "api": Colours("#1c7ed6", "#e7f1fc"),
    "event": Colours("#2b8a3e", "#e8f5ea"),
    "cron": Colours("#7048e8", "#efeafd"),
    "noop": Colours("#6c757d", "#f1f3f5", dashed=True),
    "topic": Colours("#b35c00", "#fff4e0"),
    "stream": Colours("#1e7a4f", "#e6f6ef", dashed=True),
    "state": Colours("#0b7285", "#e3fafc"),
}
KINDS = tuple(PALETTE)
"""Every node kind a diagram draws: the four step types, then topic, stream, state."""
