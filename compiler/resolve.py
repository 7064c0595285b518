"""Stage 3: the validated document becomes an App, every value in its final form.

Durations become seconds, sizes bytes, schema names the schemas they name (with `$ref`
files inlined), and `defaults` is merged into every step. Resolution is best effort:
a part the schema stage already reported is skipped, not reported twice, so the check
stage still sees every other step and can report its problems in the same run.
"""

from __future__ import annotations

import keyword
import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol, TypeVar, cast, get_args

from motia.compiler._middleware import Middlewares, resolve_cors
from motia.compiler._problems import Problems
from motia.compiler._refs import SchemaResolver
from motia.compiler.flowcontrol import resolve_flow_control
from motia.compiler.ir import (
    API_DEFAULT_KEY,
    DONE_TTL,
    LANGUAGE_BY_EXTENSION,
    STREAMS_AUTH_STEP,
    Adapters,
    App,
    Backoff,
    Execution,
    Flow,
    Handler,
    Idempotency,
    Response,
    Step,
    StepType,
    Stream,
    Topic,
)
from motia.compiler.loader import JSONPath
from motia.compiler.units import format_duration, parse_duration, parse_size
from motia.errors import CompileError

T = TypeVar("T")
_STEP_TYPES: tuple[str, ...] = get_args(StepType)
_JS_NAME = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")
_EXTENSIONS = ", ".join(LANGUAGE_BY_EXTENSION)


@dataclass(frozen=True)
class Resolved:
    """The App of a project, and the `$ref` files it was built from (for the plan hash)."""

    app: App
    ref_files: tuple[str, ...] = ()


def resolve(problems: Problems, root: Path, source: str) -> Resolved:
    """Build the App of `problems.doc`, filing what is wrong with it in `problems`."""
    return _Resolver(problems, root).app(source)


class _Resolver:
    def __init__(self, problems: Problems, root: Path) -> None:
        data = problems.doc.data
        self.problems = problems
        self.root = root
        self.data: dict[str, Any] = data if isinstance(data, dict) else {}
        self.schemas = SchemaResolver(problems, root, _section(self.data, "schemas"))

    def app(self, source: str) -> Resolved:
        base = self._execution(_mapping(self.data.get("defaults")), ("defaults",), Execution())
        self.middlewares = Middlewares(self.problems, base, parse_handler,
                                       _mapping(self.data.get("defaults")).get("middleware"))
        steps = tuple(step for n, v in self._items("steps")
                      if (step := self._step(n, v, base)) is not None)
        app = App(
            name=_text(self.data.get("app")),
            root=str(self.root),
            source=source,
            adapters=self._adapters(),
            schemas=self.schemas.named_schemas(),
            topics=tuple(self._topic(n, _mapping(v)) for n, v in self._items("topics")),
            flows=tuple(Flow(n, _text(_mapping(v).get("description"))) for n, v in
                        self._items("flows")),
            steps=steps,
            streams=tuple(self._stream(n, _mapping(v)) for n, v in self._items("streams")),
            streams_auth=self._streams_auth(base),
            middlewares=self.middlewares.steps(),
            cors=resolve_cors(self.data.get("cors"), self.problems),
        )
        return Resolved(app, tuple(sorted(self.schemas.ref_files)))

    def _items(self, section: str) -> list[tuple[str, Any]]:
        return list(_section(self.data, section).items())

    def _adapters(self) -> Adapters:
        raw = _mapping(self.data.get("adapters"))
        default = Adapters()
        events, state = raw.get("events", default.events), raw.get("state", default.state)
        return Adapters(
            events=events if isinstance(events, str) else default.events,
            state=state if isinstance(state, str) else default.state,
        )

    def _topic(self, name: str, raw: dict[str, Any]) -> Topic:
        schema, schema_name = self.schemas.use(raw.get("schema"), ("topics", name, "schema"))
        return Topic(name, schema, schema_name, _text(raw.get("description")))

    def _stream(self, name: str, raw: dict[str, Any]) -> Stream:
        schema, schema_name = self.schemas.use(raw.get("schema"), ("streams", name, "schema"))
        return Stream(name, schema, schema_name, _text(raw.get("description")))

    def _streams_auth(self, base: Execution) -> Step | None:
        """`streams_auth:` as an api-like step: it runs in its own worker and gets a
        request-shaped `req` (headers, query, the subscription)."""
        if not isinstance(self.data.get("streams_auth"), str):
            return None
        handler = self._handler({"handler": self.data["streams_auth"]}, ())
        if handler is None:
            return None
        return Step(name=STREAMS_AUTH_STEP, type="api", handler=handler,
                    description="allows or refuses stream subscriptions",
                    timeout=base.timeout, workers=base.workers,
                    concurrency=base.concurrency, memory=base.memory)

    def _step(self, name: str, raw: Any, base: Execution) -> Step | None:
        if not isinstance(raw, dict) or raw.get("type") not in _STEP_TYPES:
            return None  # the schema stage reported it
        path: JSONPath = ("steps", name)
        kind = cast(StepType, raw["type"])
        execution = self._execution(raw, path, base)
        step = Step(
            name=name,
            type=kind,
            handler=self._handler(raw, path) if kind != "noop" else None,
            description=_text(raw.get("description")),
            flows=_names(raw.get("flows")),
            emits=_names(raw.get("emits")),
            subscribes=_names(raw.get("subscribes")),
            streams=_names(raw.get("streams")),
            state_reads=_names(_mapping(raw.get("state")).get("reads")),
            state_writes=_names(_mapping(raw.get("state")).get("writes")),
            timeout=execution.timeout,
            retries=execution.retries if kind in ("event", "cron") else 0,
            backoff=execution.backoff,
            workers=execution.workers,
            concurrency=execution.concurrency,
            memory=execution.memory,
            idempotency=self._idempotency(kind, raw, path),
            flow_control=resolve_flow_control(raw.get("flow"), path, self.problems.error)
            if kind == "event" else None,
        )
        if kind == "api":
            return self._api(step, raw, path)
        if kind == "cron":
            return replace(step, cron=_optional_text(raw.get("cron")),
                           timezone=_optional_text(raw.get("timezone")))
        return step

    def _idempotency(self, kind: StepType, raw: dict[str, Any], path: JSONPath) -> Idempotency | None:
        """`idempotency: {key, ttl}`, or `idempotent: true` for its defaults (an API step's
        key is the Idempotency-Key header, an event or cron step's the event id)."""
        spec, short = raw.get("idempotency"), raw.get("idempotent") is True
        if spec is None:
            return Idempotency(key=API_DEFAULT_KEY if kind == "api" else None) if short else None
        if short:
            message = "`idempotent: true` and `idempotency:` are both given"
            hint = "keep `idempotency:` (`idempotent: true` is its short form)"
            self.problems.error(path + ("idempotent",), CompileError(message, hint))
        spec = _mapping(spec)
        key = spec.get("key") if isinstance(spec.get("key"), str) else None
        get = self._getter(spec, path + ("idempotency",))
        return Idempotency(key=key or (API_DEFAULT_KEY if kind == "api" else None),
                           ttl=get("ttl", _ttl, DONE_TTL))

    def _api(self, step: Step, raw: dict[str, Any], path: JSONPath) -> Step:
        body, _ = self.schemas.use(raw.get("body"), path + ("body",))
        query, _ = self.schemas.use(raw.get("query"), path + ("query",))
        responses = []
        for code, value in _mapping(raw.get("responses")).items():
            if code.isdigit() and len(code) == 3:
                schema, _ = self.schemas.use(value, path + ("responses", code))
                responses.append(Response(int(code), schema))
        return replace(
            step,
            method=_optional_text(raw.get("method")),
            path=_optional_text(raw.get("path")),
            body=body,
            query=query,
            responses=tuple(responses),
            middleware=self.middlewares.of_step(raw, path, step.timeout),
        )

    def _handler(self, raw: dict[str, Any], path: JSONPath) -> Handler | None:
        spec = raw.get("handler")
        if not isinstance(spec, str):
            return None  # missing or wrong type: the schema stage reported it
        try:
            return parse_handler(spec)
        except CompileError as exc:
            self.problems.error(path + ("handler",) if path else ("streams_auth",), exc)
            return None

    def _execution(self, raw: dict[str, Any], path: JSONPath, base: Execution) -> Execution:
        get = self._getter(raw, path)
        return Execution(
            timeout=get("timeout", _timeout, base.timeout),
            retries=get("retries", _count(0), base.retries),
            backoff=self._backoff(_mapping(raw.get("backoff")), path + ("backoff",), base.backoff),
            workers=get("workers", _count(1), base.workers),
            concurrency=get("concurrency", _count(1), base.concurrency),
            memory=get("memory", parse_size, base.memory),
        )

    def _backoff(self, raw: dict[str, Any], path: JSONPath, base: Backoff) -> Backoff:
        get = self._getter(raw, path)
        backoff = Backoff(
            initial=get("initial", parse_duration, base.initial),
            factor=get("factor", _factor, base.factor),
            max=get("max", parse_duration, base.max),
        )
        if raw and backoff.max < backoff.initial:  # checked where a backoff is written
            message = (f"backoff max ({format_duration(backoff.max)}) is shorter than its "
                       f"initial delay ({format_duration(backoff.initial)})")
            self.problems.error(path, CompileError(message, "raise `max` or lower `initial`"))
        return backoff

    def _getter(self, raw: dict[str, Any], path: JSONPath) -> _Get:
        def get(key: str, parse: Callable[[Any], T], default: T) -> T:
            if key not in raw:
                return default
            try:
                return parse(raw[key])
            except CompileError as exc:
                self.problems.error(path + (key,), exc)
                return default

        return get


class _Get(Protocol):
    """The type of `_Resolver._getter`'s result: read, parse and default one field."""

    def __call__(self, key: str, parse: Callable[[Any], T], default: T) -> T: ...


def parse_handler(spec: str) -> Handler:
    """`steps/x.py` or `steps/x.js:fn` as a Handler; raises CompileError when malformed."""
    path, function = spec, "handler"
    if ":" in spec:
        path, _, function = spec.rpartition(":")
    if any(ord(char) < 32 for char in spec):
        raise CompileError(f"handler {spec!r} contains a control character",
                           "write a plain path such as steps/charge.py")
    path = posixpath.normpath(path.strip().replace("\\", "/"))
    extension = posixpath.splitext(path)[1].lower()
    if posixpath.isabs(path) or re.match(r"^[A-Za-z]:", path):
        raise CompileError(f"handler path '{path}' is absolute",
                           "write it relative to motia.yaml, e.g. steps/charge.py")
    if extension not in LANGUAGE_BY_EXTENSION:
        raise CompileError(f"unknown handler language for '{path}'",
                           f"use a file ending in {_EXTENSIONS}")
    language = LANGUAGE_BY_EXTENSION[extension]
    if not _is_function_name(function, language):
        raise CompileError(f"invalid handler function name '{function}' in '{spec}'",
                           "write `file:function` with a function name of letters, digits and _")
    return Handler(path=path, function=function, language=language)


def _is_function_name(name: str, language: str) -> bool:
    if language == "python":
        return name.isidentifier() and not keyword.iskeyword(name)
    return bool(_JS_NAME.match(name)) and name not in _JS_RESERVED


_JS_RESERVED = frozenset(
    ["await", "break", "case", "catch", "class", "const", "continue", "debugger", "default", "delete", "do", "else", "enum", "export", "extends", "false", "finally", "for", "function", "if", "import", "in", "instanceof", "let", "new", "null", "return", "static", "super", "switch", "this", "throw", "true", "try", "typeof", "var", "void", "while", "with", "yield"]
)


def _timeout(value: object) -> float:
    seconds: float = parse_duration(value)
    if seconds <= 0:
        raise CompileError("timeout must be longer than 0", "e.g. `timeout: 30s`")
    return seconds


def _ttl(value: object) -> float:
    seconds: float = parse_duration(value)
    if seconds <= 0:
        raise CompileError("ttl must be longer than 0", "e.g. `ttl: 24h`")
    return seconds


def _count(minimum: int) -> Callable[[object], int]:
    def parse(value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise CompileError(f"expected a whole number of at least {minimum}, got {value!r}")
        return value

    return parse


def _factor(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 1:
        raise CompileError(f"backoff factor must be a number of at least 1, got {value!r}")
    return float(cast(float, value))


def _section(data: dict[str, Any], key: str) -> dict[str, Any]:
    return _mapping(data.get(key))


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _names(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(item for item in value if isinstance(item, str))


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _optional_text(value: Any) -> str | None:
    return value if isinstance(value, str) else None
