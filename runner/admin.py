"""The admin HTTP API under /__motia/api/ (contract: notes/ADMIN_API.md).

The Workbench page and the `motia emit|state|dlq` commands are its clients. It reads the
runtime's plan, log ring buffer, trace store, state store and dead letters, and writes
through the same paths the steps use (`Runtime.emit`, `Runtime.replay`), so an event sent
from here is validated and traced like any other.

`LogBuffer` is the Hooks subscriber that keeps the newest 2,000 log records and feeds
the live `text/event-stream` of /__motia/api/logs/stream.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from aiohttp import web

from motia.errors import EmitError, ReplayRefused, StateError
from motia.runner import _json_input as json_input
from motia.runner._http_errors import dumps, error_response, read_body
from motia.runner.hooks import Hooks
from motia.runner.logs import LEVELS, Logger, LogRecord
from motia.runner.state._paging import MAX_LIMIT
from motia.runner.workers._protocol import emit_delay

if TYPE_CHECKING:
    from motia.runner.app import Runtime
    from motia.runner.config import RunConfig

API = "/__motia/api"
LOG_LIMIT = 2000
_STREAM_QUEUE = 1000  # records a slow SSE client may lag behind before it misses some
_HEARTBEAT = 15.0


class LogBuffer(Hooks):
    """The newest LOG_LIMIT log records, and the queues of the live streams."""

    def __init__(self, limit: int = LOG_LIMIT) -> None:
        self.records: deque[LogRecord] = deque(maxlen=limit)
        self._streams: set[asyncio.Queue[LogRecord | None]] = set()

    def on_log(self, record: LogRecord) -> None:
        self.records.append(record)
        for queue in self._streams:
            if queue.qsize() < _STREAM_QUEUE:
                queue.put_nowait(record)

    def query(self, *, step: str | None = None, trace_id: str | None = None,
              level: str | None = None, limit: int = 200) -> list[LogRecord]:
        """Matching records, newest last."""
        floor = LEVELS.index(level) if level in LEVELS else 0
        found = [r for r in self.records if _matches(r, step, trace_id)
                 and LEVELS.index(r.level if r.level in LEVELS else "info") >= floor]
        return found[-limit:] if limit > 0 else []

    def subscribe(self) -> asyncio.Queue[LogRecord | None]:
        queue: asyncio.Queue[LogRecord | None] = asyncio.Queue()
        self._streams.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[LogRecord | None]) -> None:
        self._streams.discard(queue)

    async def close_streams(self) -> None:
        """End every live stream (at shutdown, so the HTTP server can stop)."""
        for queue in self._streams:
            queue.put_nowait(None)
        await asyncio.sleep(0)


def _matches(record: LogRecord, step: str | None, trace_id: str | None) -> bool:
    return (not step or record.step == step) and (not trace_id or record.trace_id == trace_id)


def auth_middleware(config: RunConfig) -> Any:
    """The Workbench token guard when bound beyond loopback, else None."""
    if config.loopback:
        return None
    from motia.runner.workbench.routes import workbench_auth_middleware

    return workbench_auth_middleware(config.token)


def add_admin_routes(
    app: web.Application, runtime: Runtime, wrap: Callable[[Handler], Handler] | None = None
) -> None:
    """Register the admin API (and the Workbench page when it is installed) on `app`, each
    handler passed through `wrap` (the gateway's error and token middlewares)."""
    api = _AdminApi(runtime)
    for method, path, handler in api.routes():
        app.router.add_route(method, API + path, wrap(handler) if wrap else handler)
    try:
        from motia.runner.workbench.routes import add_workbench_routes
    except ImportError:
        return
    add_workbench_routes(app, wrap)


def _json(value: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, text=dumps(value), content_type="application/json")


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class _AdminApi:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime

    def routes(self) -> list[tuple[str, str, Handler]]:
        return [
            ("GET", "", self.index),
            ("GET", "/", self.index),
            ("GET", "/health", self.health),
            ("GET", "/app", self.app),
            ("GET", "/logs", self.logs),
            ("GET", "/logs/stream", self.log_stream),
            ("GET", "/traces", self.traces),
            ("GET", "/traces/{trace_id}", self.trace),
            ("GET", "/state", self.state_groups),
            ("GET", "/state/{group}", self.state_group),
            ("GET", "/state/{group}/{key}", self.state_get),
            ("PUT", "/state/{group}/{key}", self.state_set),
            ("DELETE", "/state/{group}/{key}", self.state_delete),
            ("GET", "/dlq", self.dlq),
            ("POST", "/dlq/replay", self.dlq_replay_all),
            ("POST", "/dlq/{id}/replay", self.dlq_replay),
            ("DELETE", "/dlq/{id}", self.dlq_delete),
            ("POST", "/emit", self.emit),
            ("GET", "/cron", self.cron),
            ("POST", "/cron/{step}/run", self.cron_run),
            ("GET", "/flow", self.flow),
        ]

    # --- app ---------------------------------------------------------------------------

    async def index(self, request: web.Request) -> web.Response:
        """What the `motia run` banner points at: every admin endpoint, and the app's own
        API endpoints (method, path, step, language)."""
        from motia.runner._routes import describe

        seen: set[tuple[str, str]] = set()
        admin = []
        for route in request.app.router.routes():
            path = route.resource.canonical if route.resource is not None else ""
            if path.startswith(API + "/") and path != API + "/" and route.method != "HEAD":
                if (route.method, path) not in seen:
                    seen.add((route.method, path))
                    admin.append({"method": route.method, "path": path})
        return _json({"app": self.rt.app.name, "admin": admin, "endpoints": describe(self.rt.app)})

    async def flow(self, request: web.Request) -> web.Response:
        """Each step's flow-control rules in words and the events waiting on each now, on
        every replica together."""
        from motia.compiler.flowcontrol import describe

        gauge = self.rt.flow_gauge
        waiting = await gauge.app_wide() if gauge is not None else {}
        steps = {}
        for step in self.rt.app.steps:
            if step.flow_control is None:
                continue
            rules = [name for name, _ in step.flow_control.rules()]
            steps[step.name] = [
                {"rule": rule, "text": text, "waiting": waiting.get(step.name, {}).get(rule, 0)}
                for rule, text in zip(rules, describe(step.flow_control), strict=True)]
        return _json({"steps": steps})

    async def health(self, request: web.Request) -> web.Response:
        config = self.rt.config
        return _json({"status": "ok", "app": self.rt.app.name, "role": config.role,
                      "events": config.events, "state": config.state, "dev": config.dev})

    async def app(self, request: web.Request) -> web.Response:
        from motia.runner._describe import describe_app

        return _json(describe_app(self.rt.app))

    # --- logs and traces ---------------------------------------------------------------

    async def logs(self, request: web.Request) -> web.Response:
        q = request.query
        records = self.rt.logs.query(step=q.get("step"), trace_id=q.get("trace_id"),
                                     level=q.get("level"), limit=_int(q.get("limit"), 200))
        return _json({"logs": [r.to_dict() for r in records]})

    async def log_stream(self, request: web.Request) -> web.StreamResponse:
        step, trace_id = request.query.get("step"), request.query.get("trace_id")
        response = web.StreamResponse(headers={
            "Content-Type": "text/event-stream", "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no"})
        await response.prepare(request)
        queue = self.rt.logs.subscribe()
        try:
            await response.write(b": connected\n\n")
            while True:
                try:
                    record = await asyncio.wait_for(queue.get(), _HEARTBEAT)
                except TimeoutError:
                    await response.write(b": keep-alive\n\n")
                    continue
                if record is None:
                    break
                if _matches(record, step, trace_id):
                    line = json.dumps(record.to_dict(), default=str, separators=(",", ":"))
                    await response.write(f"data: {line}\n\n".encode())
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self.rt.logs.unsubscribe(queue)
        return response

    async def traces(self, request: web.Request) -> web.Response:
        from motia.runner.trace_query import QueryError, TraceQuery, select

        try:
            query = TraceQuery.parse(request.query)
        except QueryError as exc:
            return error_response(400, "BadRequest", str(exc))
        traces = self.rt.traces.recent(self.rt.traces.limit)
        return _json(select(traces, query, self.rt.app))

    async def trace(self, request: web.Request) -> web.Response:
        trace_id = request.match_info["trace_id"]
        trace = self.rt.traces.get(trace_id)
        if trace is None:
            return error_response(404, "NotFound", f"no trace {trace_id!r} (the newest "
                                  f"{self.rt.traces.limit} traces are kept)")
        logs = [r.to_dict() for r in self.rt.logs.query(trace_id=trace_id, limit=LOG_LIMIT)]
        return _json({**trace.to_dict(), "logs": logs})

    # --- state -------------------------------------------------------------------------

    async def state_groups(self, request: web.Request) -> web.Response:
        return _json({"groups": await self._store.groups()})

    async def state_group(self, request: web.Request) -> web.Response:
        group, query = request.match_info["group"], request.query
        return await _state_call(lambda: self._group(group, query))

    async def _group(self, group: str, query: Mapping[str, str]) -> dict[str, Any]:
        """The group's keys in order, from `cursor` on, filtered by `prefix`: one page of
        `limit` keys, or (without `limit`) every key, read a page at a time."""
        prefix, cursor, limit = query.get("prefix"), query.get("cursor"), query.get("limit")
        items: dict[str, Any] = {}
        while True:
            page = await self._store.list(group, prefix, _whole(limit) if limit else MAX_LIMIT,
                                          cursor)
            items.update((item["key"], item["value"]) for item in page["items"])
            cursor = page["cursor"]
            if cursor is None or limit:
                return {"group": group, "items": items, "cursor": cursor}

    async def state_get(self, request: web.Request) -> web.Response:
        group, key = request.match_info["group"], request.match_info["key"]
        return await _state_call(lambda: self._get(group, key))

    async def _get(self, group: str, key: str) -> dict[str, Any]:
        return {"value": await self._store.get(group, key)}

    async def state_set(self, request: web.Request) -> web.Response:
        group, key = request.match_info["group"], request.match_info["key"]
        value = await _body(request, self.rt.logger)
        if isinstance(value, web.Response):
            return value
        return await _state_call(lambda: self._set(group, key, value))

    async def _set(self, group: str, key: str, value: Any) -> dict[str, Any]:
        return {"value": await self._store.set(group, key, value)}

    async def state_delete(self, request: web.Request) -> web.Response:
        group, key = request.match_info["group"], request.match_info["key"]
        return await _state_call(lambda: self._delete(group, key))

    async def _delete(self, group: str, key: str) -> dict[str, Any]:
        await self._store.delete(group, key)
        return {"deleted": True}

    @property
    def _store(self) -> Any:
        assert self.rt.store is not None
        return self.rt.store

    # --- dead letters and events ----------------------------------------------------------

    async def dlq(self, request: web.Request) -> web.Response:
        letters = await self.rt.dead_letters(request.query.get("step") or None)
        return _json({"dead_letters": [d.to_dict() for d in letters]})

    async def dlq_replay(self, request: web.Request) -> web.Response:
        """Replay one dead letter; a body `{"data": ...}` replays it with that data instead
        (checked against the topic's schema first: a 400 naming each violation)."""
        from motia.runner.app import UNCHANGED, EventRejected

        letter_id = request.match_info["id"]
        body = await _body(request, self.rt.logger) if request.can_read_body else None
        if isinstance(body, web.Response):
            return body
        if body is not None and not (isinstance(body, dict) and set(body) <= {"data"}):
            return error_response(400, "BadRequest", 'expected no body, or {"data": <JSON>} '
                                  "to replay the event with edited data")
        data = body["data"] if isinstance(body, dict) and "data" in body else UNCHANGED
        try:
            event = await self.rt.replay(letter_id, data)
        except EventRejected as exc:
            return error_response(400, "ValidationError", str(exc), errors=exc.errors)
        except (EmitError, ReplayRefused) as exc:
            return error_response(409, "Conflict", str(exc))
        if event is None:
            return _no_letter(letter_id)
        return _json({"replayed": letter_id, "event_id": event.event_id,
                      "trace_id": event.trace_id, "edited": data is not UNCHANGED})

    async def dlq_delete(self, request: web.Request) -> web.Response:
        letter_id = request.match_info["id"]
        letter = await self.rt.delete_dead_letter(letter_id)
        if letter is None:
            return _no_letter(letter_id)
        return _json({"deleted": letter_id, "step": letter.step})

    async def dlq_replay_all(self, request: web.Request) -> web.Response:
        replayed, kept = await self.rt.replay_all(request.query.get("step") or None)
        return _json({"replayed": replayed, "kept": kept})

    async def emit(self, request: web.Request) -> web.Response:
        from motia.runner.app import EventRejected

        body = await _body(request, self.rt.logger)
        if isinstance(body, web.Response):
            return body
        if not isinstance(body, dict) or not isinstance(body.get("topic"), str):
            return error_response(
                400, "BadRequest",
                'expected {"topic": "<name>", "data": <JSON>, "trace_id"?, "delay"?}')
        trace_id, delay = body.get("trace_id"), body.get("delay")
        if delay is not None:
            try:
                delay = emit_delay(body["topic"], delay, where=f"emit {body['topic']!r}")
            except ValueError as exc:
                return error_response(400, "BadRequest", str(exc))
        try:
            event = await self.rt.emit(body["topic"], body.get("data"),
                                       trace_id if isinstance(trace_id, str) else None,
                                       delay=delay)
        except EventRejected as exc:
            return error_response(400, "ValidationError", str(exc), errors=exc.errors)
        answer: dict[str, Any] = {"event_id": event.event_id, "trace_id": event.trace_id}
        if event.delayed_until is not None:
            answer["delayed_until"] = event.delayed_until
        return _json(answer)


    # --- cron ------------------------------------------------------------------------------

    async def cron(self, request: web.Request) -> web.Response:
        """Each cron step's schedule in words and its next fire times (ISO, in its zone)."""
        from motia.compiler.cron import next_fires
        from motia.compiler.cron_words import describe_cron

        now = time.time()
        return _json({"cron": [{
            "step": step.name, "cron": step.cron, "timezone": step.timezone or "UTC",
            "words": describe_cron(step.cron, step.timezone),
            "next": [when.isoformat() for when in next_fires(step.cron, step.timezone, now)],
        } for step in self.rt.app.steps_of("cron") if step.cron]})

    async def cron_run(self, request: web.Request) -> web.Response:
        """Fire one tick now. Body `{"key": "<run id>"}` (optional): replicas asked with
        the same key fire once between them (default: the current second)."""
        from motia.errors import TickRunning

        name = request.match_info["step"]
        step = next((s for s in self.rt.app.steps if s.name == name), None)
        if step is None or step.type != "cron":
            cron = ", ".join(s.name for s in self.rt.app.steps_of("cron")) or "none"
            return error_response(404, "NotFound", f"no cron step {name!r}; cron steps: {cron}")
        body = await _body(request, self.rt.logger) if request.can_read_body else None
        if isinstance(body, web.Response):
            return body
        key = body.get("key") if isinstance(body, dict) else None
        if key is not None and not (isinstance(key, str) and 0 < len(key) <= 100):
            return error_response(400, "BadRequest", '"key" must be a string of 1-100 characters')
        try:
            trace_id = await self.rt.run_cron(name, key or f"{time.time():.0f}")
        except TickRunning as exc:
            return error_response(409, "Conflict", str(exc))
        return _json({"step": name, "fired": trace_id is not None, "trace_id": trace_id},
                     status=202)


def _no_letter(letter_id: str) -> web.Response:
    return error_response(404, "NotFound", f"no dead letter {letter_id!r}; "
                          "list them with GET /__motia/api/dlq or `motia dlq ls`")


async def _body(request: web.Request, logger: Logger) -> Any:
    """The JSON body (null when empty), or the 400 response that answers the request."""
    raw = await read_body(request, logger)
    if raw is None:
        return web.Response(status=400)  # the client went away; nobody reads this
    try:
        return json_input.loads(raw or b"null")
    except ValueError as exc:
        return error_response(400, "InvalidJSON", f"request body is not valid JSON: {exc}")


async def _state_call(call: Callable[[], Awaitable[dict[str, Any]]]) -> web.Response:
    try:
        return _json(await call())
    except StateError as exc:
        return error_response(400, "StateError", str(exc))


def _whole(raw: str) -> Any:
    """A query parameter as an int when it is one (else as is, for the store to refuse)."""
    try:
        return int(raw)
    except ValueError:
        return raw


def _int(raw: str | None, default: int) -> int:
    try:
        return max(int(raw), 0) if raw is not None else default
    except ValueError:
        return default
