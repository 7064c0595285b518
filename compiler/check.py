"""Stage 4: the rules that need the whole App, and the warnings about how it is wired.

Errors (SPEC section 3): topics emitted or subscribed are declared, flows are declared,
streams a step writes are declared, the `streams_auth` and middleware handlers exist,
method+path pairs are unique and well formed, cron expressions and time zones parse,
handler files exist and define their function, flow-control keys name properties of the
subscribed topics' schemas. Warnings (the project still compiles): a topic nobody subscribes
to, a step in no flow, a stream no step writes, a state group only read (state_groups.py),
steps that trigger each other in a cycle.
"""

from __future__ import annotations

import re
from pathlib import Path

from motia.compiler._handlers import check_handler
from motia.compiler._middleware import handler_entry, middleware_handler
from motia.compiler._middleware import locations as middleware_locations
from motia.compiler._problems import Problems
from motia.compiler.cron import check_cron, check_timezone
from motia.compiler.flowcontrol import check_flow_keys
from motia.compiler.ir import MIDDLEWARE_PREFIX, App, JSONSchema, Step, Topic
from motia.compiler.keypaths import KeyPath, check_in_schema, parse_key_path
from motia.compiler.resolve import parse_handler
from motia.compiler.state_groups import warn_state_groups
from motia.compiler.suggest import did_you_mean
from motia.errors import CompileError

_SEGMENT = re.compile(r"^[A-Za-z0-9._~!$&'()*+,;=:@%-]+$")
_PARAM = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def check(app: App, problems: Problems, *, require_handlers: bool = True) -> None:
    """File every cross-reference error of `app`; warnings only when there is none."""
    topics = {topic.name for topic in app.topics}
    flows = {flow.name for flow in app.flows}
    streams = {stream.name for stream in app.streams}
    routes: dict[tuple[str, str], str] = {}
    for step in app.steps:
        _check_references(step, topics, flows, problems)
        _check_streams(step, streams, problems)
        if step.type == "api":
            _check_route(step, routes, problems)
        if step.type == "cron":
            _check_schedule(step, problems)
        if step.idempotency is not None and step.idempotency.key is not None:
            _check_idempotency_key(app, step, step.idempotency.key, problems)
        check_flow_keys(app, step, problems)
        check_handler(step, Path(app.root), problems, require_file=require_handlers)
    if app.streams_auth is not None:
        check_handler(app.streams_auth, Path(app.root), problems,
                      require_file=require_handlers, where=("streams_auth",))
    _check_middlewares(app, problems, require_handlers)
    if not problems.errors:
        warn(app, problems)


def _check_middlewares(app: App, problems: Problems, require_handlers: bool) -> None:
    """Each middleware's file and function, reported at its first entry in motia.yaml."""
    where: dict[str, tuple[str | int, ...]] = {}
    for entry, path in middleware_locations(problems.doc.data):
        try:
            handler = middleware_handler(entry, parse_handler)
        except (CompileError, TypeError, AttributeError):
            continue  # reported by the schema or resolve stage
        where.setdefault(MIDDLEWARE_PREFIX + handler_entry(handler), path)
    for step in app.middlewares:
        check_handler(step, Path(app.root), problems, require_file=require_handlers,
                      where=where.get(step.name, ("defaults", "middleware")))


def _check_streams(step: Step, streams: set[str], problems: Problems) -> None:
    for index, stream in enumerate(step.streams):
        if stream not in streams:
            hint = did_you_mean(stream, streams, fallback="declare it under `streams:`")
            message = f"step '{step.name}' writes undeclared stream '{stream}'"
            problems.error(("steps", step.name, "streams", index), CompileError(message, hint))


def _check_references(step: Step, topics: set[str], flows: set[str], problems: Problems) -> None:
    path = ("steps", step.name)
    for key, verb in (("emits", "emits"), ("subscribes", "subscribes to")):
        for index, topic in enumerate(getattr(step, key)):
            if topic not in topics:
                hint = did_you_mean(topic, topics, fallback="declare it under `topics:`")
                message = f"step '{step.name}' {verb} undeclared topic '{topic}'"
                problems.error(path + (key, index), CompileError(message, hint))
    for index, flow in enumerate(step.flows):
        if flow not in flows:
            hint = did_you_mean(flow, flows, fallback="declare it under `flows:`")
            problems.error(path + ("flows", index), CompileError(f"unknown flow '{flow}'", hint))


#: paths the runner serves itself on the gateway's port, before any step's route
RESERVED_PATHS = {"/healthz": "liveness probe", "/readyz": "readiness probe",
                  "/metrics": "Prometheus metrics endpoint"}


def _check_route(step: Step, routes: dict[tuple[str, str], str], problems: Problems) -> None:
    if step.method is None or step.path is None:
        return  # the schema stage reported the missing key
    try:
        shape = route_shape(step.path)
    except CompileError as exc:
        problems.error(("steps", step.name, "path"), exc)
        return
    if step.path.rstrip("/") in RESERVED_PATHS:
        message = (f"path {step.path} is taken by the {RESERVED_PATHS[step.path.rstrip('/')]} "
                   "that every replica answers; a step cannot serve it")
        problems.error(("steps", step.name, "path"),
                       CompileError(message, "pick another path, e.g. /status"))
        return
    first = routes.setdefault((step.method, shape), step.name)
    if first != step.name:
        message = f"duplicate route {step.method} {step.path}: step '{first}' already serves it"
        hint = "change the method or the path of one of the two steps"
        problems.error(("steps", step.name, "path"), CompileError(message, hint))


#: where an idempotency key may start, per step type
_KEY_ROOTS = {"api": ("body", "query", "params", "headers"), "event": ("data",)}


def _check_idempotency_key(app: App, step: Step, key: str, problems: Problems) -> None:
    """The key path starts where the step's input does and names declared properties;
    a key that is not always there is a warning (such inputs are not deduplicated)."""
    where = ("steps", step.name, "idempotency", "key")
    try:
        path = parse_key_path(key, _KEY_ROOTS.get(step.type, ("data",)))
        always = all(check_in_schema(path, schema, what) for what, schema in _key_schemas(app, step, path))
    except CompileError as exc:
        problems.error(where, CompileError(f"idempotency {exc.message}", exc.hint))
        return
    if path.root == "params" and path.parts and path.parts[0] in step.path_params:
        always = True
    if not always and path.root != "headers":
        problems.warn(where, f"idempotency key '{key}' is not required by the schema",
                      "inputs without it run every time (events fall back to their event id)")


def _key_schemas(app: App, step: Step, path: KeyPath) -> list[tuple[str, JSONSchema | None]]:
    """(what, schema) pairs the key path must exist in: each subscribed topic's, or the
    API step's body or query schema; path parameters are checked by name."""
    if path.root == "data":
        return [(_topic_label(app.topic(t)), app.topic(t).schema)
                for t in step.subscribes if t in {topic.name for topic in app.topics}]
    if path.root in ("body", "query"):
        return [(f"the {path.root} schema of step '{step.name}'", getattr(step, path.root))]
    if path.root == "params" and (len(path.parts) != 1 or path.parts[0] not in step.path_params):
        hint = did_you_mean(path.parts[0] if path.parts else "", step.path_params,
                            fallback=f"path parameters of {step.path}: {', '.join(step.path_params) or 'none'}")
        raise CompileError(f"key '{path.text}' names no path parameter of {step.path}", hint)
    return []


def _topic_label(topic: Topic) -> str:
    named = f" (schema {topic.schema_name})" if topic.schema_name else ""
    return f"topic '{topic.name}'{named}"


def route_shape(path: str) -> str:
    """`path` with parameter names erased (`/orders/{}`); raises CompileError if malformed.

    Two routes with the same shape and method would shadow each other in the gateway.
    """
    if not path.startswith("/"):
        raise CompileError(f"path '{path}' must start with '/'", f"write `/{path.lstrip('/')}`")
    segments = path[1:].split("/")
    params: set[str] = set()
    shape = []
    for index, segment in enumerate(segments):
        if segment == "" and index == len(segments) - 1:
            shape.append("")  # a trailing slash is its own route
            continue
        name = _segment_param(path, segment)
        if name is not None and name in params:
            raise CompileError(f"path parameter '{name}' appears twice in '{path}'",
                               "give each path parameter its own name")
        if name is not None:
            params.add(name)
        shape.append("{}" if name is not None else segment)
    return "/" + "/".join(shape)


def _segment_param(path: str, segment: str) -> str | None:
    """The parameter name a segment holds (`{id}` -> `id`), None for a literal segment."""
    if segment == "":
        raise CompileError(f"path '{path}' has an empty segment ('//')", "remove the extra '/'")
    if "{" not in segment and "}" not in segment:
        if segment.startswith(":") and _PARAM.match(segment[1:]):
            raise CompileError(f"Express-style path parameter '{segment}' in '{path}'",
                               f"write `{_braced(path)}`: path parameters go in braces")
        if not _SEGMENT.match(segment):
            raise CompileError(f"path '{path}' has a character a URL path cannot hold in "
                               f"'{segment}'", "use letters, digits and - . _ ~ in paths")
        return None
    if not (segment.startswith("{") and segment.endswith("}")) or segment.count("{") != 1:
        raise CompileError(f"malformed path parameter '{segment}' in '{path}'",
                           "a parameter is a whole segment in braces: /orders/{id}")
    name = segment[1:-1]
    if not _PARAM.match(name):
        raise CompileError(f"invalid path parameter name '{name}' in '{path}'",
                           "use letters, digits and _, starting with a letter or _")
    return name


def _braced(path: str) -> str:
    """`/chat/:id/messages/:n` -> `/chat/{id}/messages/{n}`."""
    return "/".join(f"{{{seg[1:]}}}" if seg.startswith(":") and _PARAM.match(seg[1:]) else seg
                    for seg in path.split("/"))


def _check_schedule(step: Step, problems: Problems) -> None:
    path = ("steps", step.name)
    if step.cron is not None:
        try:
            check_cron(step.cron)
        except CompileError as exc:
            problems.error(path + ("cron",), exc)
    if step.timezone is not None:
        try:
            check_timezone(step.timezone)
        except CompileError as exc:
            problems.error(path + ("timezone",), exc)


def warn(app: App, problems: Problems) -> None:
    """File the warnings of a valid `app`: dead-end topics, steps in no flow, cycles."""
    subscribed = {topic for step in app.steps for topic in step.subscribes}
    for topic in app.topics:
        if topic.name not in subscribed:
            problems.warn(("topics", topic.name), f"topic '{topic.name}' has no subscribers",
                          "add a step that subscribes to it (a noop step documents an "
                          "outside consumer), or remove it")
    for step in app.steps:
        if not step.flows:
            problems.warn(("steps", step.name), f"step '{step.name}' is in no flow",
                          "add `flows: [<flow>]` so diagrams and the Workbench show it")
    written = {stream for step in app.steps for stream in step.streams}
    for stream in app.streams:
        if stream.name not in written:
            problems.warn(("streams", stream.name), f"stream '{stream.name}' is written by no step",
                          f"add `streams: [{stream.name}]` to the steps that call "
                          f"ctx.streams.{stream.name}, or remove it")
    warn_state_groups(app, problems)
    _warn_cycles(app, problems)


def _warn_cycles(app: App, problems: Problems) -> None:
    from motia.compiler.graph import build_graph, find_cycles

    for cycle in find_cycles(build_graph(app)):
        if len(cycle) == 1:
            message = f"step '{cycle[0]}' emits a topic it subscribes to"
        else:
            message = "steps form a cycle: " + " -> ".join([*cycle, cycle[0]])
        problems.warn(("steps", cycle[0]), message,
                      "each event can trigger the next forever; make sure the loop ends")
