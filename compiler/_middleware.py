"""`middleware:` and `cors:`: resolved into the App (stage 3), their handlers located for
the check stage (stage 4).

A middleware entry is a handler string whose function defaults to `middleware`. Each
distinct entry becomes one runnable api-like Step in `App.middlewares`, named
MIDDLEWARE_PREFIX + the entry, so it runs in its own workers like any step (isolation:
no user code in the host) and is named in the logs. A step's `middleware:` replaces
`defaults.middleware`, as every other key of `defaults:` is replaced by a step's own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

from motia.compiler._problems import Problems
from motia.compiler.ir import MIDDLEWARE_FUNCTION, MIDDLEWARE_PREFIX, Cors, Execution, Handler, Step
from motia.compiler.loader import JSONPath
from motia.compiler.units import parse_duration
from motia.errors import CompileError

ParseHandler = Callable[[str], Handler]


class Middlewares:
    """Collects the middleware steps while the API steps are resolved."""

    def __init__(self, problems: Problems, base: Execution, parse: ParseHandler,
                 defaults: Any) -> None:
        self.problems = problems
        self.base = base
        self.parse = parse
        self.defaults = defaults if isinstance(defaults, list) else []
        self._steps: dict[str, Step] = {}
        self._longest: dict[str, float] = {}

    def of_step(self, raw: dict[str, Any], path: JSONPath, timeout: float) -> tuple[str, ...]:
        """The middleware names an API step runs: its own list, else `defaults.middleware`."""
        if "middleware" in raw:
            entries, where = raw["middleware"], path + ("middleware",)
        else:
            entries, where = self.defaults, ("defaults", "middleware")
        if not isinstance(entries, list):
            return ()  # the schema stage reported it
        names = []
        for index, entry in enumerate(entries):
            name = self._use(entry, where + (index,))
            if name is not None and name not in names:
                names.append(name)
                self._longest[name] = max(self._longest.get(name, 0.0), timeout)
        return tuple(names)

    def _use(self, entry: Any, where: JSONPath) -> str | None:
        if not isinstance(entry, str):
            return None
        try:
            handler = middleware_handler(entry, self.parse)
        except CompileError as exc:
            self.problems.error(where, exc)
            return None
        name = MIDDLEWARE_PREFIX + handler_entry(handler)
        if name not in self._steps:
            base = self.base
            self._steps[name] = Step(
                name=name, type="api", handler=handler,
                description=f"middleware {handler_entry(handler)}",
                timeout=base.timeout, workers=base.workers, concurrency=base.concurrency,
                memory=base.memory)
        return name

    def steps(self) -> tuple[Step, ...]:
        """The middleware steps; each one's timeout covers the longest step it is in
        front of plus its own `defaults.timeout` (it waits for `next()`)."""
        return tuple(replace(step, timeout=step.timeout + self._longest.get(name, 0.0))
                     for name, step in self._steps.items())


def middleware_handler(entry: str, parse: ParseHandler) -> Handler:
    """The Handler of a `middleware:` entry (function `middleware` unless it names one);
    raises CompileError when malformed."""
    handler = parse(entry)
    return handler if ":" in entry else replace(handler, function=MIDDLEWARE_FUNCTION)


def handler_entry(handler: Handler) -> str:
    """`steps/auth.py`, or `steps/auth.js:check` when the function is not `middleware`."""
    if handler.function == MIDDLEWARE_FUNCTION:
        return handler.path
    return f"{handler.path}:{handler.function}"


def locations(data: Any) -> Iterator[tuple[str, JSONPath]]:
    """(entry, its place in motia.yaml) of every middleware entry, defaults first."""
    data = data if isinstance(data, dict) else {}
    defaults = data.get("defaults")
    if isinstance(defaults, dict) and isinstance(defaults.get("middleware"), list):
        for index, entry in enumerate(defaults["middleware"]):
            yield entry, ("defaults", "middleware", index)
    steps = data.get("steps")
    for name, raw in (steps.items() if isinstance(steps, dict) else ()):
        if isinstance(raw, dict) and isinstance(raw.get("middleware"), list):
            for index, entry in enumerate(raw["middleware"]):
                yield entry, ("steps", name, "middleware", index)


# --- cors ------------------------------------------------------------------------------------


def resolve_cors(raw: Any, problems: Problems) -> Cors | None:
    """`cors:` as a Cors (None without one); `credentials` with `*` is an error."""
    if not isinstance(raw, dict) or not isinstance(raw.get("origins"), list):
        return None  # absent, or the schema stage reported it
    default = Cors(origins=())
    origins = tuple(o.rstrip("/") for o in raw["origins"] if isinstance(o, str))
    credentials = raw.get("credentials") is True
    if credentials and "*" in origins:
        problems.error(("cors", "credentials"), CompileError(
            "`credentials: true` cannot be used with the origin `*` (browsers refuse it)",
            "list the origins that may send credentials, e.g. https://app.example.com"))
    max_age = default.max_age
    if "max_age" in raw:
        try:
            max_age = parse_duration(raw["max_age"])
        except CompileError as exc:
            problems.error(("cors", "max_age"), exc)
    headers = raw.get("headers")
    return Cors(
        origins=origins,
        methods=tuple(m.upper() for m in raw.get("methods") or default.methods),
        headers=tuple(h.lower() for h in headers) if isinstance(headers, list) else None,
        expose=tuple(h.lower() for h in raw.get("expose") or default.expose),
        credentials=credentials,
        max_age=max_age,
    )
