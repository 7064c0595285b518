"""One self-contained HTML file describing the app, for people who will not run it.

It holds a diagram per flow (inline SVG from `layout`, no script, no external URL), the
step table and a field table for every schema, so it can be mailed or attached to a
ticket and opened offline. Text from motia.yaml is escaped by the template's autoescape.
"""

from __future__ import annotations

from typing import Any

from motia.compiler._templates import render
from motia.compiler.cron_words import describe_cron
from motia.compiler.flowcontrol import describe
from motia.compiler.ir import App, JSONSchema, Step
from motia.compiler.layout import CHAR_W, NO_FLOW, PAD_X, layout
from motia.compiler.palette import PALETTE
from motia.compiler.schema_fields import schema_fields
from motia.compiler.state_groups import state_groups

LOOP_DROP = 18.0


def render_html(app: App) -> str:
    """The HTML document of `app` (UTF-8 text, no external references)."""
    schemas = _Schemas(app)
    steps = [_step_row(step, schemas) for step in app.steps]
    text: str = render(
        "document.html.j2",
        app=app,
        counts={kind: len(app.steps_of(kind)) for kind in ("api", "event", "cron", "noop")},
        diagrams=_diagrams(app),
        steps=steps,
        topics=_topic_rows(app, schemas),
        streams=_stream_rows(app, schemas),
        groups=_state_rows(app),
        palette=PALETTE,
        schemas=schemas.sections,
    )
    return text


def _diagrams(app: App) -> list[dict[str, Any]]:
    wanted: list[tuple[str, str, str | None]] = [
        (f"Flow {flow.name}", flow.description, flow.name) for flow in app.flows
        if any(flow.name in step.flows for step in app.steps)
    ]
    if not wanted:
        wanted = [("All steps", "", None)]
    elif any(not step.flows for step in app.steps):
        wanted.append(("Steps in no flow", "", NO_FLOW))
    return [_diagram(index, title, description, layout(app, flow))
            for index, (title, description, flow) in enumerate(wanted)]


def _diagram(index: int, title: str, description: str, data: dict[str, Any]) -> dict[str, Any]:
    boxes = {node["id"]: node for node in data["nodes"]}
    edges = [_edge(boxes[e["source"]], boxes[e["target"]], e) for e in data["edges"]]
    extra = LOOP_DROP + 8 if any(e["back"] for e in data["edges"]) else 0.0
    return {
        "index": index,
        "title": title,
        "description": description,
        "width": _num(data["width"]),
        "height": _num(data["height"] + extra),
        "nodes": [_node(node) for node in data["nodes"]],
        "edges": edges,
    }


def _node(node: dict[str, Any]) -> dict[str, Any]:
    x, y, w, h = node["x"], node["y"], node["w"], node["h"]
    fit = max(int((w - 2 * PAD_X) / CHAR_W), 4)
    has_sub = bool(node["sublabel"])
    return {
        **node,
        "cls": f"n-{node['type']}",
        "x": _num(x), "y": _num(y), "w": _num(w), "h": _num(h),
        "rx": _num(h / 2 if node["kind"] == "topic" else 10 if node["kind"] == "stream"
                   else 2 if node["kind"] == "state" else 6),
        "cx": _num(x + w / 2),
        "ty": _num(y + (19 if has_sub else h / 2 + 4)),
        "sy": _num(y + 36),
        "text": _clip(node["label"], fit),
        "subtext": _clip(node["sublabel"], fit + 1),
    }


def _edge(source: dict[str, Any], target: dict[str, Any], edge: dict[str, Any]) -> dict[str, str]:
    x1, y1 = source["x"] + source["w"], source["y"] + source["h"] / 2
    x2, y2 = target["x"], target["y"] + target["h"] / 2
    if edge["back"]:
        low = max(source["y"] + source["h"], target["y"] + target["h"]) + LOOP_DROP
        mid = (x1 + x2) / 2
        points = [x1, y1, x1 + 40, y1, x1 + 40, low, mid, low, x2 - 40, low, x2 - 40, y2, x2, y2]
        d = "M{} {} C{} {} {} {} {} {} C{} {} {} {} {} {}".format(*map(_num, points))
    else:
        bend = max((x2 - x1) / 2, 20.0)
        points = [x1, y1, x1 + bend, y1, x2 - bend, y2, x2, y2]
        d = "M{} {} C{} {} {} {} {} {}".format(*map(_num, points))
    return {"d": d, "kind": edge["kind"], "cls": "back" if edge["back"] else ""}


def _num(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(limit - 1, 1)] + "\u2026"


class _Schemas:
    """Every schema shown once, with an anchor the step and topic tables link to."""

    def __init__(self, app: App) -> None:
        self.sections: list[dict[str, Any]] = []
        self._named = [(name, schema, self._add(f"Schema {name}", schema))
                       for name, schema in app.schemas]

    def link(self, schema: JSONSchema | None, title: str,
             name: str | None = None) -> dict[str, str] | None:
        """`{anchor, label}` of `schema`'s table, adding an inline schema's table once."""
        if schema is None:
            return None
        found = next((n for n in self._named if n[0] == name), None) or next(
            (n for n in self._named if n[1] == schema), None)
        if found is not None:
            return {"anchor": found[2], "label": found[0]}
        return {"anchor": self._add(title, schema), "label": "inline"}

    def _add(self, title: str, schema: JSONSchema) -> str:
        anchor = f"schema-{len(self.sections) + 1}"
        self.sections.append({"anchor": anchor, "title": title, "rows": schema_fields(schema)})
        return anchor


def _trigger(step: Step) -> str:
    if step.type == "api":
        return f"{step.method} {step.path}"
    if step.type == "cron" and step.cron:
        return f"{describe_cron(step.cron, step.timezone)} (cron {step.cron})"
    return "on " + ", ".join(step.subscribes) if step.subscribes else ""


def _step_row(step: Step, schemas: _Schemas) -> dict[str, Any]:
    handler = step.handler
    payloads = [
        ("body", schemas.link(step.body, f"Step {step.name}: request body")),
        ("query", schemas.link(step.query, f"Step {step.name}: query")),
        *((str(r.status), schemas.link(r.schema, f"Step {step.name}: response {r.status}"))
          for r in step.responses),
    ]
    return {
        "name": step.name,
        "type": step.type,
        "description": step.description,
        "trigger": _trigger(step),
        "handler": f"{handler.path}:{handler.function}" if handler else "",
        "language": handler.language if handler else "",
        "emits": list(step.emits),
        "subscribes": list(step.subscribes),
        "flows": list(step.flows),
        "payloads": [(label, link) for label, link in payloads if link],
        "flow_control": describe(step.flow_control) if step.flow_control else [],
    }


def _topic_rows(app: App, schemas: _Schemas) -> list[dict[str, Any]]:
    emitters: dict[str, list[str]] = {}
    subscribers: dict[str, list[str]] = {}
    for step in app.steps:
        for name in step.emits:
            emitters.setdefault(name, []).append(step.name)
        for name in step.subscribes:
            subscribers.setdefault(name, []).append(step.name)
    return [{
        "name": topic.name,
        "description": topic.description,
        "schema": schemas.link(topic.schema, f"Topic {topic.name}: payload", topic.schema_name),
        "emitters": emitters.get(topic.name, []),
        "subscribers": subscribers.get(topic.name, []),
    } for topic in app.topics]


def _stream_rows(app: App, schemas: _Schemas) -> list[dict[str, Any]]:
    return [{
        "name": stream.name,
        "description": stream.description,
        "schema": schemas.link(stream.schema, f"Stream {stream.name}: item", stream.schema_name),
        "writers": [step.name for step in app.steps if stream.name in step.streams],
    } for stream in app.streams]


def _state_rows(app: App) -> list[dict[str, Any]]:
    return [{
        "name": group,
        "writers": [step.name for step in app.steps if group in step.state_writes],
        "readers": [step.name for step in app.steps if group in step.state_reads],
    } for group in state_groups(app)]
