"""The running plan as JSON for GET /__motia/api/app: plan, graph, layout and Mermaid.

Each export comes from the compiler; one that is missing or fails is left out (and
named in "unavailable") rather than taking the admin API down with it.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Any

from motia.compiler.ir import App

_log = logging.getLogger("motia.admin")

_EXPORTS: dict[str, tuple[str, str]] = {
    "plan": ("motia.compiler.plan", "plan_to_dict"),
    "graph": ("motia.compiler.graph", "graph_json"),
    "layout": ("motia.compiler.layout", "layout"),
    "mermaid": ("motia.compiler.mermaid", "render_mermaid"),
}


def describe_app(app: App) -> dict[str, Any]:
    out: dict[str, Any] = {}
    unavailable: list[str] = []
    for name, (module, function) in _EXPORTS.items():
        export = _load(module, function)
        if export is None and name == "plan":
            export = dataclasses.asdict
        if export is None:
            unavailable.append(name)
            continue
        try:
            out[name] = export(app)
        except Exception:  # a broken exporter must not break the admin API
            _log.exception("the %s export of app %s failed", name, app.name)
            unavailable.append(name)
    if unavailable:
        out["unavailable"] = unavailable
    return out


def _load(module: str, function: str) -> Callable[[App], Any] | None:
    try:
        imported = __import__(module, fromlist=[function])
    except ImportError:
        return None
    export = getattr(imported, function, None)
    return export if callable(export) else None
