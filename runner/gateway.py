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

import re
import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from aiohttp import web

from motia.compiler.ir import MIDDLEWARE_PREFIX, App, Step
from motia.errors import (
    HandlerError,
    HandlerLoadError,
    InvocationError,
    MotiaError,
)
from motia.runner import _json_input as json_input
from motia.runner import traceparent
from motia.runner._cors import CorsPolicy
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
from motia.runner._responses import BadResponse, make_response, response_dict, split_response
from motia.runner._routes import Match, NoRoute, Route, RouteTable, WrongMethod
from motia.runner._validation import coerce_query, violations
from motia.runner.bus.base import new_id
from motia.runner.config import RunConfig
from motia.runner.delivery.base import Invoker
from motia.runner.hooks import Hooks
from motia.runner.logs import Logger, LogRecord
from motia.runner.workers._protocol import wire_bytes
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
#: failures whose message is for the log only under `motia run` (it names files, shows
#: code or data): the client gets the step and the error id
_HIDDEN = (HandlerError, HandlerLoadError)
_TRACE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


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
        self.cors = CorsPolicy(app.cors) if app.cors is not None else None

    def swap(self, app: App) -> None:
        self.routes = RouteTable(app)
        self.cors = CorsPolicy(app.cors) if app.cors is not None else None

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
        app.router.add_route("*", "/{tail:.*}", self.serve)
        return app

    async def serve(self, request: web.Request) -> web.StreamResponse:
        """The steps' catch-all route: `handle`, behind `cors:` when the app has it."""
        cors = self.cors
        if cors is None:
            return await self.handle(request)
        return await cors.handle(request, self.handle)

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
            elif route.middleware:
                response = await self._run(request, route, payload, ctx)
            else:
                try:
                    result = await self.invoker.invoke(route.step, payload, ctx)
                except InvocationError as exc:
                    return self._invocation_failed(request, route.step, exc, ctx)
                response = await self._respond(request, route, result, ctx)
            self._access_log(request, match, response.status, started, ctx)
            return response
        except Exception as exc:  # a bug of ours: still a JSON 500, its id in the log
            return failure_response(request, exc, self.logger, self.config.max_body)

    async def _run(self, request: web.Request, route: Route, payload: dict[str, Any],
                   ctx: InvocationContext, chain: tuple[Step, ...] | None = None,
                   ) -> web.Response:
        """Invoke and respond: the same as the inline path in `handle`, as one call for
        ApiAnswers (an idempotent step's request runs only when it has no answer yet),
        behind the route's middleware (`chain`: those still to run)."""
        chain = route.middleware if chain is None else chain
        if chain:
            return await self._middleware(request, route, payload, ctx, chain)
        try:
            result = await self.invoker.invoke(route.step, payload, ctx)
        except InvocationError as exc:
            return self._invocation_failed(request, route.step, exc, ctx)
        return await self._respond(request, route, result, ctx)

    async def _middleware(self, request: web.Request, route: Route, payload: dict[str, Any],
                          ctx: InvocationContext, chain: tuple[Step, ...]) -> web.Response:
        """`chain[0]` in its own worker; its `next()` (a call back to us) runs the rest of
        the chain and hands it the response, which the middleware may change."""
        step = chain[0]
        called = False

        async def next_() -> dict[str, Any]:
            nonlocal called
            if called:
                raise MotiaError(f"middleware {step.name[len(MIDDLEWARE_PREFIX):]} called "
                                 "next() twice: it runs the rest of the chain once")
            called = True
            return response_dict(await self._run(request, route, payload, ctx, chain[1:]))

        try:
            # its own span (a sibling of the step's under the request's), not the step's id
            result = await self.invoker.invoke(step, payload,
                                               replace(ctx, next=next_, span_id=new_span_id()))
        except InvocationError as exc:
            return self._invocation_failed(request, step, exc, ctx)
        try:
            status, body, headers = split_response(result.value)
        except BadResponse as exc:
            return self._bad_response(request, step.name, exc, ctx)
        response = make_response(status, body, headers)
        response.headers[TRACE_HEADER] = ctx.trace_id
        return response

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
        payload = {
            "body": body, "query": query, "params": match.params,
            "headers": _headers(request.headers), "method": request.method, "path": request.path,
        }
        if raw:
            payload["raw_body"] = wire_bytes(raw)
        return payload

    async def _respond(
        self, request: web.Request, route: Route, result: InvocationResult,
        ctx: InvocationContext,
    ) -> web.Response:
        step = route.step.name
        try:
            status, body, headers = split_response(result.value)
        except BadResponse as exc:
            return self._bad_response(request, step, exc, ctx)
        try:
            if result.emits:
                await self.invoker.publish_emits(route.step, ctx, result.emits)
        except MotiaError as exc:
            return self._fail(request, 503, "EventsUnavailable",
                              f"step {step!r} succeeded but its events could not be "
                              f"published: {exc}", ctx.trace_id, step=step, event_id=ctx.event_id)
        if self.config.checks_responses:
            problem = self._check_response(request, route, status, body, ctx)
            if problem is not None:
                return problem
        response = make_response(status, body, headers)
        response.headers[TRACE_HEADER] = ctx.trace_id
        return response

    # --- failures -------------------------------------------------------------------------

    def _invocation_failed(
        self, request: web.Request, failed: Step, exc: InvocationError, ctx: InvocationContext
    ) -> web.Response:
        step = failed.name
        eid = error_id()
        self.logger.error(
            f"{request.method} {request.path} -> {exc.http_status}: {exc.type}: {exc.message}",
            {"error_id": eid, "status": exc.http_status, "traceback": exc.traceback or None},
            step=step, trace_id=ctx.trace_id, event_id=ctx.event_id,
        )
        if isinstance(exc, _HIDDEN) and not self.config.dev:  # tracebacks, file paths
            message = f"step {step!r} failed; see the server log for error id {eid}"
        else:
            message = f"step {step!r}: {exc.message}"
        return error_response(exc.http_status, type(exc).__name__, message, id=eid,
                              headers={TRACE_HEADER: ctx.trace_id})

    def _bad_response(self, request: web.Request, step: str, exc: BadResponse,
                      ctx: InvocationContext) -> web.Response:
        """A return value that is not a response: the log shows it and the accepted
        shapes; under `motia run` the client is not shown the value."""
        return self._fail(request, 500, "InvalidResponse", f"step {step!r}: {exc}",
                          ctx.trace_id, step=step, event_id=ctx.event_id,
                          public=None if self.config.dev else
                          f"step {step!r} returned a value that is not a response")

    def _fail(
        self, request: web.Request, status: int, type_: str, message: str, trace_id: str, *,
        errors: list[dict[str, Any]] | None = None, headers: dict[str, str] | None = None,
        step: str | None = None, event_id: str | None = None, public: str | None = None,
    ) -> web.Response:
        """Log `message` and answer it (`public` instead, with the error id, if given)."""
        eid = error_id()
        level = "error" if status >= 500 else "info"
        data: dict[str, Any] = {"error_id": eid, "status": status}
        if errors:
            data["errors"] = errors
        self.logger.log(level, f"{request.method} {request.path} -> {status}: {message}",
                                data, step=step, trace_id=trace_id, event_id=event_id)
        if public is not None:
            message = f"{public}; see the server log for error id {eid}"
        return error_response(status, type_, message, id=eid, errors=errors,
                              headers={**(headers or {}), TRACE_HEADER: trace_id})

    def _check_response(
        self, request: web.Request, route: Route, status: int, body: Any,
        ctx: InvocationContext,
    ) -> web.Response | None:
        """`motia dev` and `motia.testing` (`check_responses`): a response that breaks the
        schema its step declares for its status is a 500 naming step, status and errors."""
        validator = route.responses.get(status)
        if validator is None:
            return None
        found = violations(validator, body, "response")
        if not found:
            return None
        step = route.step.name
        listed = "; ".join(f"{v['path'] or '/'}: {v['message']}" for v in found)
        return self._fail(
            request, 500, "ResponseSchemaError",
            f"step {step!r} answered {status} with a body that does not match its "
            f"`responses: {status}` schema: {listed}", ctx.trace_id, errors=found, step=step,
            event_id=ctx.event_id)

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


def _headers(headers: Any) -> dict[str, str]:
    """Lower-cased names (the workers look them up case-insensitively); a repeated header
    is joined with ", " as RFC 9110 allows, rather than keeping only one of its values."""
    out = {name.lower(): value for name, value in headers.items()}
    if len(out) == len(headers):  # the common case: no name repeated
        return out
    out = {}
    for name, value in headers.items():
        key = name.lower()
        out[key] = f"{out[key]}, {value}" if key in out else value
    return out


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
