"""The HTTP gateway: one aiohttp application serving every API step and the admin API.

A request is matched against the plan's `RouteTable`, its body and query are checked
against the step's schemas (every violation listed in a 400), the handler runs in the
step's worker, its emits are published, and only then is the response sent. Every
failure is a JSON error with an id that is also in the log line (see `_http_errors`).

The aiohttp application (middlewares, admin and Workbench routes) is built once; the
route table behind the catch-all route is swapped by `motia dev` when motia.yaml
changes, which aiohttp's frozen router could not do.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from motia.compiler.ir import App
from motia.errors import HandlerError, InvocationError, MotiaError
from motia.runner import _json_input as json_input
from motia.runner import traceparent
from motia.runner._http_errors import (
    TRACE_ID_KEY,
    error_id,
    error_middleware,
    error_response,
    failure_response,
    read_body,
    too_large_message,
    with_middlewares,
)
from motia.runner._routes import Match, NoRoute, Route, RouteTable, WrongMethod
from motia.runner._validation import coerce_query, violations
from motia.runner.bus.base import new_id
from motia.runner.config import RunConfig
from motia.runner.delivery.base import Invoker
from motia.runner.hooks import Hooks
from motia.runner.logs import Logger, LogRecord
from motia.runner.workers.api import InvocationContext, InvocationResult, new_span_id

if TYPE_CHECKING:
    from motia.runner.delivery.answers import ApiAnswers

Wrap = Callable[[Any], Any]
#: adds the routes beside the steps' (admin API, Workbench, probes, streams); the first
#: wrap gives a handler the error and Workbench-token middlewares, the second the error one
AddRoutes = Callable[[web.Application, Wrap, Wrap], None]

TRACE_HEADER = "x-trace-id"
#: the route template a request matched ("" when none did), for the after_request hook
ROUTE_KEY = web.RequestKey("motia_route", str)
_TRACE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_RESPONSE_KEYS = frozenset({"status", "body", "headers"})


class Gateway:
    """Serves the API steps of `app` through `invoker`; `swap(app)` replaces the routes in
    place. `answers` keeps idempotent steps' first answers; `add_routes` adds the admin
    API, the Workbench, the probes and the streams. `hooks.after_request` hears of every
    answer to a step's route (metrics and traces subscribe)."""

    def __init__(self, invoker: Invoker, app: App, config: RunConfig, logger: Logger, *,
                 answers: ApiAnswers | None = None, add_routes: AddRoutes | None = None,
                 hooks: Hooks | None = None) -> None:
        self.invoker = invoker
        self.hooks = hooks or Hooks()
        self.config = config
        self.logger = logger
        self.answers = answers
        self.add_routes = add_routes
        self.routes = RouteTable(app)

    def swap(self, app: App) -> None:
        self.routes = RouteTable(app)

    def application(self) -> web.Application:
        """The aiohttp app: error and auth middlewares, admin, Workbench and ops routes, steps."""
        from motia.runner import admin

        config = self.config
        middlewares: list[Any] = [error_middleware(self.logger, config.max_body)]
        guard = admin.auth_middleware(config)
        if guard is not None:
            middlewares.append(guard)
        # No app-wide middlewares: the admin and Workbench routes get theirs one by one,
        # and `handle` catches what the steps' route lets through itself.
        app = web.Application(client_max_size=config.max_body)
        if self.add_routes is not None:  # before the steps' catch-all
            self.add_routes(app, lambda h: with_middlewares(h, middlewares),
                            lambda h: with_middlewares(h, middlewares[:1]))
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    # --- one request ----------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """One request to a step's route: answered by `_handle`, then its span ids are
        returned in `traceparent` and `after_request` is told."""
        start, started = time.time(), time.perf_counter()
        trace_id, parent = incoming_trace(request.headers)
        span_id = new_span_id()
        request[TRACE_ID_KEY] = trace_id
        response = await self._handle(request, trace_id, span_id, started)
        header = traceparent.format(trace_id, span_id)
        if header is not None:
            response.headers[traceparent.HEADER] = header
        self.hooks.after_request(request.method, request.get(ROUTE_KEY, ""), response.status,
                                 start, time.perf_counter() - started, trace_id, span_id, parent)
        return response

    async def _handle(self, request: web.Request, trace_id: str, span_id: str,
                      started: float) -> web.StreamResponse:
        try:
            try:
                match = self.routes.match(request.method, request.path)
            except NoRoute:
                return self._fail(request, 404, "NotFound",
                                  f"no route for {request.method} {request.path}", trace_id)
            except WrongMethod as exc:
                allow = ", ".join(exc.allowed)
                message = f"{request.method} is not allowed on {request.path}; allowed: {allow}"
                return self._fail(request, 405, "MethodNotAllowed", message, trace_id,
                                  headers={"Allow": allow})
            route = match.route
            request[ROUTE_KEY] = route.step.path or ""
            ctx = InvocationContext(trace_id=trace_id, event_id=new_id(), parent_span=span_id)
            payload = await self._payload(request, match, trace_id)
            if isinstance(payload, web.Response):
                return payload  # a 400 or 413, logged where it was decided
            key = route.key(payload) if route.key is not None else None
            if key is not None and self.answers is not None:
                response = await self.answers.answer(
                    route.step, key, lambda: self._run(request, route, payload, ctx))
                response.headers[TRACE_HEADER] = ctx.trace_id  # a replay is a new request
            else:
                try:
                    result = await self.invoker.invoke(route.step, payload, ctx)
                except InvocationError as exc:
                    return self._invocation_failed(request, route, exc, ctx)
                response = await self._respond(request, route, result, ctx)
            self._access_log(request, match, response.status, started, ctx)
            return response
        except Exception as exc:  # a bug of ours: still a JSON 500, its id in the log
            return failure_response(request, exc, self.logger, self.config.max_body)

    async def _run(self, request: web.Request, route: Route, payload: dict[str, Any],
                   ctx: InvocationContext) -> web.Response:
        """Invoke and respond: the same as the inline path in `handle`, as one call for
        ApiAnswers (an idempotent step's request runs only when it has no answer yet)."""
        try:
            result = await self.invoker.invoke(route.step, payload, ctx)
        except InvocationError as exc:
            return self._invocation_failed(request, route, exc, ctx)
        return await self._respond(request, route, result, ctx)

    async def _payload(
        self, request: web.Request, match: Match, trace_id: str
    ) -> dict[str, Any] | web.Response:
        """The handler's `req`, or the 400/413 response that replaces the invocation."""
        route = match.route
        limit = self.config.max_body
        if request.content_length is not None and request.content_length > limit:
            return self._fail(request, 413, "PayloadTooLarge", too_large_message(limit), trace_id)
        try:
            raw = await read_body(request, self.logger) if request.body_exists else b""
        except web.HTTPRequestEntityTooLarge:
            return self._fail(request, 413, "PayloadTooLarge", too_large_message(limit), trace_id)
        if raw is None:
            return web.Response(status=400)  # nobody is left to read it
        try:
            body = _parse_body(raw, request.content_type)
        except ValueError as exc:
            return self._fail(request, 400, "InvalidJSON",
                              f"request body is not valid JSON: {exc}", trace_id,
                              step=route.step.name)
        query = coerce_query(request.query, route.step.query) if request.query_string else {}
        errors = _check(route, body, query, raw)
        if errors:
            return self._fail(
                request, 400, "ValidationError",
                f"request does not match the schemas of step {route.step.name!r}: "
                f"{len(errors)} violation(s)", trace_id, errors=errors, step=route.step.name,
            )
        return {
            "body": body, "query": query, "params": match.params,
            "headers": {k.lower(): v for k, v in request.headers.items()},
            "method": request.method, "path": request.path,
        }

    async def _respond(
        self, request: web.Request, route: Route, result: InvocationResult,
        ctx: InvocationContext,
    ) -> web.Response:
        step = route.step.name
        try:
            status, body, headers = split_response(result.value)
        except ValueError as exc:
            return self._fail(request, 500, "InvalidResponse", f"step {step!r}: {exc}",
                              ctx.trace_id, step=step, event_id=ctx.event_id)
        try:
            if result.emits:
                await self.invoker.publish_emits(route.step, ctx, result.emits)
        except MotiaError as exc:
            return self._fail(request, 503, "EventsUnavailable",
                              f"step {step!r} succeeded but its events could not be "
                              f"published: {exc}", ctx.trace_id, step=step, event_id=ctx.event_id)
        if self.config.dev:
            self._check_response(route, status, body, ctx)
        response = _make_response(status, body, headers)
        response.headers[TRACE_HEADER] = ctx.trace_id
        return response

    # --- failures -------------------------------------------------------------------------

    def _invocation_failed(
        self, request: web.Request, route: Route, exc: InvocationError, ctx: InvocationContext
    ) -> web.Response:
        step = route.step.name
        eid = error_id()
        self.logger.error(
            f"{request.method} {request.path} -> {exc.http_status}: {exc.type}: {exc.message}",
            {"error_id": eid, "status": exc.http_status, "traceback": exc.traceback or None},
            step=step, trace_id=ctx.trace_id, event_id=ctx.event_id,
        )
        if isinstance(exc, HandlerError) and not self.config.dev:
            message = f"step {step!r} failed; see the server log for error id {eid}"
        else:
            message = f"step {step!r}: {exc.message}"
        return error_response(exc.http_status, type(exc).__name__, message, id=eid,
                              headers={TRACE_HEADER: ctx.trace_id})

    def _fail(
        self, request: web.Request, status: int, type_: str, message: str, trace_id: str, *,
        errors: list[dict[str, Any]] | None = None, headers: dict[str, str] | None = None,
        step: str | None = None, event_id: str | None = None,
    ) -> web.Response:
        eid = error_id()
        level = "error" if status >= 500 else "info"
        data: dict[str, Any] = {"error_id": eid, "status": status}
        if errors:
            data["errors"] = errors
        self.logger.log(level, f"{request.method} {request.path} -> {status}: {message}",
                                data, step=step, trace_id=trace_id, event_id=event_id)
        return error_response(status, type_, message, id=eid, errors=errors,
                              headers={**(headers or {}), TRACE_HEADER: trace_id})

    def _check_response(
        self, route: Route, status: int, body: Any, ctx: InvocationContext
    ) -> None:
        """`motia dev` only: warn when a response breaks its declared schema."""
        validator = route.responses.get(status)
        if validator is None:
            return
        found = violations(validator, body)
        if found:
            self.logger.warn(
                f"response {status} of step {route.step.name!r} does not match its schema",
                {"errors": found}, step=route.step.name, trace_id=ctx.trace_id,
                event_id=ctx.event_id,
            )

    def _access_log(
        self, request: web.Request, match: Match, status: int, started: float,
        ctx: InvocationContext,
    ) -> None:
        if status >= 400:
            return  # failures were logged, with their error id, where they happened
        ms = (time.perf_counter() - started) * 1000
        self.logger.emit(LogRecord(
            "info", f"{request.method} {request.path} -> {status} ({ms:.1f} ms)",
            step=match.route.step.name, trace_id=ctx.trace_id, event_id=ctx.event_id))


# --- helpers ------------------------------------------------------------------------------


def incoming_trace(headers: Any) -> tuple[str, str | None]:
    """(trace id, caller's span id): the W3C `traceparent`'s, else a sane `x-trace-id`
    (no parent), else a new trace id."""
    parent = traceparent.parse(headers.get(traceparent.HEADER))
    if parent is not None:
        return parent
    given = headers.get(TRACE_HEADER)
    if given and _TRACE_ID.match(given.strip()):
        return str(given.strip()), None
    return new_id(), None


_JSON_START = (b"{", b"[")
#: `dumps` with its encoder built once (json.dumps builds one per call when given options)
_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode


def _parse_body(raw: bytes, content_type: str) -> Any:
    """JSON unless the client said it is text or a form; empty is None.

    A "form" whose body starts like a JSON document is parsed as JSON: that is what
    `curl -d '{...}'` sends without `-H 'Content-Type: application/json'`, and reading
    it as a form would answer a mistyped header with baffling schema errors.
    """
    if not raw:
        return None
    if content_type.startswith("text/"):
        return raw.decode("utf-8", errors="replace")
    if content_type == "application/x-www-form-urlencoded" and raw.lstrip()[:1] not in _JSON_START:
        from urllib.parse import parse_qsl

        return dict(parse_qsl(raw.decode("utf-8", errors="replace"), keep_blank_values=True))
    return json_input.loads(raw)


def _check(route: Route, body: Any, query: dict[str, Any], raw: bytes) -> list[dict[str, Any]]:
    errors: list[dict[str, Any]] = []
    if route.body is not None:
        if not raw:
            errors.append({"in": "body", "path": "",
                           "message": "request body is missing; send a JSON document"})
        else:
            errors += violations(route.body, body, "body")
    if route.query is not None:
        errors += violations(route.query, query, "query")
    return errors


def split_response(value: Any) -> tuple[int, Any, dict[str, str]]:
    """(status, body, headers) of a handler's return value; ValueError when malformed.

    `{"status", "body", "headers"}` (any subset, at least status or body) is a response;
    anything else is the body of a 200.
    """
    if not (isinstance(value, dict) and value and _RESPONSE_KEYS.issuperset(value)
            and ("status" in value or "body" in value)):
        return 200, value, {}
    status = value.get("status", 200)
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise ValueError(f"the handler returned status {status!r}; expected an HTTP status "
                         "code from 100 to 599")
    headers = value.get("headers") or {}
    if not isinstance(headers, dict):
        raise ValueError(f"the handler returned headers {headers!r}; expected an object")
    return status, value.get("body"), {str(k): str(v) for k, v in headers.items()}


def _make_response(status: int, body: Any, headers: dict[str, str]) -> web.Response:
    if body is None:
        return web.Response(status=status, headers=headers or None)
    if isinstance(body, str):
        data, content_type = body.encode(), "text/plain"
    else:
        data, content_type = _dumps(body).encode(), "application/json"
    if not headers:  # the common case, and the cheapest way aiohttp builds a response
        return web.Response(status=status, body=data, content_type=content_type, charset="utf-8")
    if not any(k.lower() == "content-type" for k in headers):
        headers = {**headers, "Content-Type": f"{content_type}; charset=utf-8"}
    return web.Response(status=status, body=data, headers=headers)
