"""The API steps of one plan as a route table, with their validators compiled once.

A `RouteTable` is immutable and cheap to rebuild; `motia dev` builds a new one when
motia.yaml changes and swaps it in, which is why the gateway matches requests against
this table rather than registering one aiohttp route per step on a frozen router.
Static paths are a dict lookup; paths with `{param}` segments are tried in plan order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from jsonschema import Draft202012Validator

from motia.compiler.ir import App, Step
from motia.runner._validation import compile_schema
from motia.runner.delivery.keys import KeyReader, key_reader

_PARAM = re.compile(r"^\{([^{}/]+)\}$")


@dataclass(frozen=True)
class Route:
    """One API step with what the gateway needs to serve it."""

    step: Step
    body: Draft202012Validator | None
    query: Draft202012Validator | None
    responses: dict[int, Draft202012Validator] = field(default_factory=dict)
    #: reads the idempotency key out of the handler's `req`; None: not idempotent
    key: KeyReader | None = None
    #: the middleware steps run in front of the handler, in order
    middleware: tuple[Step, ...] = ()

    @property
    def method(self) -> str:
        return (self.step.method or "GET").upper()


@dataclass(frozen=True)
class Match:
    route: Route
    params: dict[str, str]


class NoRoute(LookupError):
    """Raised by `RouteTable.match` when no path matches (404)."""


class WrongMethod(LookupError):
    """Raised by `RouteTable.match` when the path matches under other methods (405)."""

    def __init__(self, allowed: list[str]) -> None:
        super().__init__(", ".join(allowed))
        self.allowed = allowed


class RouteTable:
    def __init__(self, app: App) -> None:
        self._static: dict[str, dict[str, Route]] = {}
        self._dynamic: list[tuple[_Pattern, dict[str, Route]]] = []
        patterns: dict[str, dict[str, Route]] = {}
        middlewares = {m.name: m for m in app.middlewares}
        for step in app.steps_of("api"):
            if not step.runs or not step.path:
                continue
            route = _route(step, middlewares)
            path = _normal(step.path)
            if "{" in path:
                patterns.setdefault(path, {})[route.method] = route
            else:
                self._static.setdefault(path, {})[route.method] = route
        self._dynamic = [(_Pattern(path), methods) for path, methods in patterns.items()]

    def __len__(self) -> int:
        return sum(len(m) for m in self._static.values()) + sum(
            len(m) for _, m in self._dynamic)

    def routes(self) -> list[Route]:
        every = [r for m in self._static.values() for r in m.values()]
        every += [r for _, m in self._dynamic for r in m.values()]
        return every

    def match(self, method: str, path: str) -> Match:
        """The route for `method path`; NoRoute or WrongMethod otherwise."""
        path = _normal(path)
        allowed: list[str] = []
        methods = self._static.get(path)
        if methods is not None:
            route = methods.get(method)
            if route is not None:
                return Match(route, {})
            allowed += methods
        for pattern, methods in self._dynamic:
            params = pattern.match(path)
            if params is None:
                continue
            route = methods.get(method)
            if route is not None:
                return Match(route, params)
            allowed += methods
        if allowed:
            raise WrongMethod(sorted(set(allowed)))
        raise NoRoute(path)


def _route(step: Step, middlewares: dict[str, Step]) -> Route:
    responses = {r.status: v for r in step.responses if (v := compile_schema(r.schema)) is not None}
    key = key_reader(step.idempotency.key) if step.idempotency and step.idempotency.key else None
    chain = tuple(middlewares[name] for name in step.middleware if name in middlewares)
    return Route(step=step, body=compile_schema(step.body), query=compile_schema(step.query),
                 responses=responses, key=key, middleware=chain)


def _normal(path: str) -> str:
    """`/orders/` and `/orders` are the same route."""
    return path.rstrip("/") or "/"


class _Pattern:
    """A path with `{name}` segments; names may be anything the compiler accepted."""

    def __init__(self, path: str) -> None:
        self.names: list[str] = []
        parts: list[str] = []
        for segment in path.split("/"):
            found = _PARAM.match(segment)
            if found:
                parts.append("([^/]+)")
                self.names.append(found.group(1))
            else:
                parts.append(re.escape(segment))
        self.regex = re.compile("^" + "/".join(parts) + "$")

    def match(self, path: str) -> dict[str, str] | None:
        found = self.regex.match(path)
        return None if found is None else dict(zip(self.names, found.groups(), strict=True))


def describe(app: App) -> list[dict[str, Any]]:
    """The endpoints table `motia run` prints: method, path, step, language."""
    rows = []
    for step in app.steps_of("api"):
        if step.runs:
            language = step.handler.language if step.handler else ""
            rows.append({"method": (step.method or "GET").upper(), "path": step.path,
                         "step": step.name, "language": language})
    return rows
