"""AsyncAPI 3.0 of the topics: which events exist, their payloads, who sends and receives.

One channel per topic (address = topic name) holding one message whose payload is the
topic's schema; one operation per step and topic: `send` for each topic a step emits,
`receive` for each it subscribes to. Noop steps are included (marked with
`x-motia-step-type: noop`) because a diagram's readers expect them; they never run.
Each stream is a channel too (address `/__motia/streams/{stream}/{group}`, a `group`
parameter): its message is the change frame clients receive, `data` holding the item's
schema, and each step that writes the stream has a `send` operation on it.
Ids are the names made safe for `$ref` pointers (`[A-Za-z0-9._-]`, suffixed when two
collide); the real names stay in `address`, `name` and `title`.
"""

from __future__ import annotations

import re
from typing import Any

from motia.compiler._components import Components
from motia.compiler._names import unique
from motia.compiler.ir import App, Step, Stream, Topic

ASYNCAPI_VERSION = "3.0.0"


class _Ids:
    def __init__(self) -> None:
        self._used: set[str] = set()

    def fresh(self, wanted: str) -> str:
        name = unique(re.sub(r"[^A-Za-z0-9._-]", "_", wanted) or "_", self._used)
        self._used.add(name)
        return name


def render_asyncapi(app: App) -> dict[str, Any]:
    """The AsyncAPI 3.0 document of `app`'s topics, ready for json.dump or yaml.dump."""
    components = Components(app)
    channel_ids, stream_ids = _channel_ids(app)
    channels = {channel_ids[topic.name]: _channel(topic, channel_ids[topic.name], components)
                for topic in _topics(app)}
    channels.update({stream_ids[stream.name]: _stream_channel(
        stream, stream_ids[stream.name], components) for stream in app.streams})
    operations: dict[str, Any] = {}
    ids = _Ids()
    for step in app.steps:
        for action, topics in (("send", step.emits), ("receive", step.subscribes)):
            for topic in topics:
                key = ids.fresh(f"{step.name}.{action}.{topic}")
                operations[key] = _operation(step, action, channel_ids[topic])
        for stream in step.streams:
            if stream in stream_ids:
                key = ids.fresh(f"{step.name}.send.stream.{stream}")
                operations[key] = _operation(step, "send", stream_ids[stream])
    document: dict[str, Any] = {
        "asyncapi": ASYNCAPI_VERSION,
        "info": _info(app),
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
    }
    if components.schemas:
        document["components"] = {"schemas": components.schemas}
    return document


def _info(app: App) -> dict[str, Any]:
    info: dict[str, Any] = {
        "title": app.name,
        "version": app.source_hash[:12] or "0",
        "description": f"The topics of the Motia app {app.name} and the steps using them.",
    }
    tags = [_tag(flow.name, flow.description) for flow in app.flows]
    if tags:
        info["tags"] = tags
    return info


def _tag(name: str, description: str = "") -> dict[str, str]:
    return {"name": name, "description": description} if description else {"name": name}


def _topics(app: App) -> list[Topic]:
    """Declared topics, then any a step names without declaring (the checker reports those)."""
    topics = list(app.topics)
    known = {topic.name for topic in topics}
    for step in app.steps:
        for name in (*step.emits, *step.subscribes):
            if name not in known:
                known.add(name)
                topics.append(Topic(name))
    return topics


def _channel_ids(app: App) -> tuple[dict[str, str], dict[str, str]]:
    """Channel ids of the topics and of the streams, unique across both."""
    ids = _Ids()
    topics = {topic.name: ids.fresh(topic.name) for topic in _topics(app)}
    return topics, {stream.name: ids.fresh(f"stream.{stream.name}") for stream in app.streams}


def _stream_channel(stream: Stream, channel_id: str, components: Components) -> dict[str, Any]:
    data: dict[str, Any] = (components.use(stream.schema, f"{stream.name}.item")
                            if stream.schema is not None else {})
    payload = {
        "type": "object",
        "required": ["stream", "group", "op"],
        "properties": {
            "stream": {"const": stream.name},
            "group": {"type": "string"},
            "id": {"type": "string", "description": "the item (absent for `event`)"},
            "op": {"enum": ["create", "update", "delete", "event"]},
            "data": data,
            "version": {"type": "integer", "description": "the item's version"},
        },
    }
    message: dict[str, Any] = {"name": f"{stream.name} change", "title": stream.name,
                               "contentType": "application/json", "payload": payload}
    if stream.description:
        message["summary"] = stream.description
    channel: dict[str, Any] = {
        "address": f"/__motia/streams/{stream.name}/{{group}}", "title": f"stream {stream.name}",
        "parameters": {"group": {"description": "the group of items a client subscribes to"}},
        "messages": {channel_id: message},
    }
    if stream.description:
        channel["description"] = stream.description
    return channel


def _channel(topic: Topic, channel_id: str, components: Components) -> dict[str, Any]:
    message: dict[str, Any] = {"name": topic.name, "title": topic.name,
                               "contentType": "application/json"}
    if topic.description:
        message["summary"] = topic.description
    if topic.schema is not None:
        message["payload"] = components.use(topic.schema, f"{topic.name}.payload")
    channel: dict[str, Any] = {"address": topic.name, "title": topic.name,
                               "messages": {channel_id: message}}
    if topic.description:
        channel["description"] = topic.description
    return channel


def _operation(step: Step, action: str, channel_id: str) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "action": action,
        "channel": {"$ref": f"#/channels/{channel_id}"},
        "messages": [{"$ref": f"#/channels/{channel_id}/messages/{channel_id}"}],
        "title": step.name,
        "summary": _summary(step, action),
        "x-motia-step": step.name,
        "x-motia-step-type": step.type,
    }
    if step.description:
        operation["description"] = step.description
    if step.flows:
        operation["tags"] = [_tag(flow) for flow in step.flows]
    return operation


def _summary(step: Step, action: str) -> str:
    verb = "publishes to" if action == "send" else "runs on each event of"
    if step.type == "noop":
        return f"{step.name} (noop, drawn only) {verb} this channel"
    return f"{step.name} ({step.type} step) {verb} this channel"
