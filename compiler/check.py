"""Stage 4: the rules that need the whole App, and the warnings about how it is wired.

Errors (SPEC section 3): topics emitted or subscribed are declared, flows are declared,
method+path pairs are unique and well formed, cron expressions and time zones parse,
handler files exist. Warnings (the project still compiles): a topic nobody subscribes
to, a step in no flow, steps that trigger each other in a cycle.
"""

from __future__ import annotations

import functools
import re
import zoneinfo
from collections.abc import Callable
from pathlib import Path

from croniter import croniter

from motia.compiler._problems import Problems
from motia.compiler.ir import App, Step
from motia.compiler.suggest import did_you_mean
from motia.errors import CompileError

_SEGMENT = re.compile(r"^[A-Za-z0-9._~!$&'()*+,;=:@%-]+$")
_PARAM = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CRON_HINT = ('use 5 fields "minute hour day month weekday" (e.g. "0 3 * * *"), '
              "6 with seconds last, or @hourly/@daily/@weekly/@monthly/@yearly")


def check(app: App, problems: Problems, *, require_handlers: bool = True) -> None:
    """File every cross-reference error of `app`; warnings only when there is none."""
    topics = {topic.name for topic in app.topics}
    flows = {flow.name for flow in app.flows}
    routes: dict[tuple[str, str], str] = {}
    for step in app.steps:
        _check_references(step, topics, flows, problems)
        if step.type == "api":
            _check_route(step, routes, problems)
        if step.type == "cron":
            _check_schedule(step, problems)
        if require_handlers:
            _check_handler(step, Path(app.root), problems)
    if not problems.errors:
        warn(app, problems)


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
RESERVED_PATHS = {"/healthz": "liveness probe", "/readyz": "readiness probe"}


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


@functools.lru_cache(maxsize=1024)  # apps repeat a few schedules; croniter is slow to parse
def check_cron(expression: str) -> None:
    """Raise CompileError unless croniter reads `expression` (5 fields, or 6 with seconds)."""
    fields = expression.split()
    if not (len(fields) == 1 and expression.strip().startswith("@")) and len(fields) not in (5, 6):
        raise CompileError(f"cron expression '{expression}' has {len(fields)} fields, "
                           "expected 5 (or 6 with seconds)", _CRON_HINT)
    try:
        croniter(expression)
    # croniter raises assorted exception types for assorted bad strings; all mean "invalid".
    except Exception as exc:  # noqa: BLE001
        raise CompileError(f"invalid cron expression '{expression}': {exc}", _CRON_HINT) from None


def check_timezone(name: str) -> None:
    """Raise CompileError unless `name` is an IANA time zone this machine knows."""
    if name in _timezones():
        return
    try:
        zoneinfo.ZoneInfo(name)
    except (ValueError, KeyError, OSError):
        hint = did_you_mean(name, _timezones(), fallback="use an IANA name like Europe/Paris or UTC")
        raise CompileError(f"unknown time zone '{name}'", hint) from None


@functools.cache
def _timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _check_handler(step: Step, root: Path, problems: Problems) -> None:
    if step.handler is None:
        return
    file = root / step.handler.path
    if _is(file, Path.is_file):
        return
    if _is(file, Path.is_dir):
        message, hint = f"handler '{step.handler.path}' is a directory", "name a file"
    else:
        message = f"handler file '{step.handler.path}' not found"
        hint = "create it, or run `motia compile --stubs` to generate it (paths are relative to motia.yaml)"
    problems.error(("steps", step.name, "handler"), CompileError(message, hint))


def _is(path: Path, test: Callable[[Path], bool]) -> bool:
    try:
        return test(path)
    except (OSError, ValueError):  # a name the OS cannot hold (NUL, too long): not there
        return False


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
