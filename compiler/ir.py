"""The compiled plan: an immutable picture of one motia.yaml.

Everything the runner needs is here, resolved: durations are seconds, sizes are bytes,
schema names are replaced by the JSON Schema they name, step defaults are merged in.
Nothing at run time mutates a plan; a changed project is a new plan.

JSON Schemas are kept as plain dicts (jsonschema and JSON serialisation want them so);
treat them as read-only. Every other container is a tuple.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

StepType = Literal["api", "event", "cron", "noop"]
Language = Literal["python", "node"]
JSONSchema = dict[str, Any]

LANGUAGE_BY_EXTENSION: dict[str, Language] = {
    ".py": "python",
    ".js": "node",
    ".mjs": "node",
    ".cjs": "node",
}

#: the parameters a handler of each step type is called with
HANDLER_PARAMS: dict[str, str] = {"api": "req, ctx", "event": "data, ctx", "cron": "ctx"}


#: the name `streams_auth:` runs under in the worker pool and the logs; no step can have it
#: (step names start with a letter or digit)
STREAMS_AUTH_STEP = "_streams_auth"
#: a middleware runs in its own workers under this prefix and its `middleware:` entry,
#: e.g. "middleware:steps/auth.py"; no step name contains a colon
MIDDLEWARE_PREFIX = "middleware:"
#: the function a middleware file is expected to define when its entry names none
MIDDLEWARE_FUNCTION = "middleware"


@dataclass(frozen=True)
class Backoff:
    """Delay before retry attempt n (n >= 1) is `min(initial * factor**(n-1), max)`."""

    initial: float = 0.5
    factor: float = 2.0
    max: float = 60.0

    def delay(self, retry: int) -> float:
        """Seconds to wait before the `retry`-th retry (1-based)."""
        return float(min(self.initial * self.factor ** max(retry - 1, 0), self.max))


@dataclass(frozen=True)
class Execution:
    """How a step runs: what `defaults:` gives every step and each step may override.
    The one home of these defaults (the resolver merges them, `Step` starts from them)."""

    timeout: float = 30.0
    retries: int = 3
    backoff: Backoff = field(default_factory=Backoff)
    workers: int = 1
    concurrency: int = 32
    memory: int = 512 * 1024 * 1024


_RUN = Execution()

DONE_TTL = 24 * 3600.0
"""How long an idempotent step remembers a key it completed, unless `ttl:` says (seconds)."""
API_DEFAULT_KEY = "headers.idempotency-key"
"""The key of an API step with `idempotent: true` (or `idempotency:` without `key:`)."""


@dataclass(frozen=True)
class Idempotency:
    """`idempotency: {key, ttl}` (or `idempotent: true`): a repeat runs no handler.

    `key` is a dotted path into what the step receives (`data.id` on an event step,
    `body.id` / `headers.idempotency-key` / ... on an API step); None means the event id.
    """

    key: str | None = None
    ttl: float = DONE_TTL


@dataclass(frozen=True)
class Concurrency:
    """`flow.concurrency`: at most `limit` deliveries of one key run at once, all replicas."""

    limit: int
    #: dotted path into the event's data; None: the whole step is one key
    key: str | None = None


@dataclass(frozen=True)
class Rate:
    """`flow.rate`: at most `limit` starts per key in each window of `per` seconds."""

    limit: int
    per: float
    key: str | None = None


@dataclass(frozen=True)
class Debounce:
    """`flow.debounce`: a burst of one key runs once, with its last event, `wait` seconds
    after that event was published."""

    wait: float
    key: str | None = None


@dataclass(frozen=True)
class Order:
    """`flow.order`: one delivery of one key at a time, in publish order."""

    key: str | None = None


@dataclass(frozen=True)
class FlowControl:
    """`flow:` of an event step; each rule is None when not given."""

    concurrency: Concurrency | None = None
    rate: Rate | None = None
    debounce: Debounce | None = None
    order: Order | None = None

    def rules(self) -> tuple[tuple[str, Concurrency | Rate | Debounce | Order], ...]:
        """(name, rule) of the rules given, in the order deliveries pass them."""
        named = (("order", self.order), ("debounce", self.debounce),
                 ("concurrency", self.concurrency), ("rate", self.rate))
        return tuple((name, rule) for name, rule in named if rule is not None)


@dataclass(frozen=True)
class Handler:
    """Where a step's code lives: `path` is relative to the project root."""

    path: str
    function: str = "handler"
    language: Language = "python"


@dataclass(frozen=True)
class Response:
    status: int
    schema: JSONSchema | None = None


@dataclass(frozen=True)
class Step:
    """One step with every default merged in; fields not meaningful for its type stay empty."""

    name: str
    type: StepType
    handler: Handler | None = None
    description: str = ""
    flows: tuple[str, ...] = ()
    emits: tuple[str, ...] = ()
    subscribes: tuple[str, ...] = ()
    #: streams the handler writes through ctx.streams (drawn beside the step)
    streams: tuple[str, ...] = ()
    #: state groups the handler reads and writes (`state: {reads, writes}`), for diagrams
    state_reads: tuple[str, ...] = ()
    state_writes: tuple[str, ...] = ()
    # execution, from `defaults` unless the step overrides them
    timeout: float = _RUN.timeout
    retries: int = _RUN.retries
    backoff: Backoff = field(default_factory=Backoff)
    workers: int = _RUN.workers
    concurrency: int = _RUN.concurrency
    memory: int = _RUN.memory
    idempotency: Idempotency | None = None
    #: `flow:` (event steps): concurrency, rate, debounce, order per key
    flow_control: FlowControl | None = None
    # api
    method: str | None = None
    path: str | None = None
    body: JSONSchema | None = None
    query: JSONSchema | None = None
    responses: tuple[Response, ...] = ()
    #: names of the middleware steps (App.middlewares) run in front of the handler, in order
    middleware: tuple[str, ...] = ()
    # cron
    cron: str | None = None
    timezone: str | None = None

    @property
    def idempotent(self) -> bool:
        """True when a repeat (same event id or idempotency key) runs no handler."""
        return self.idempotency is not None

    @property
    def runs(self) -> bool:
        """False for noop steps, which are drawn but never executed."""
        return self.type != "noop" and self.handler is not None

    @property
    def path_params(self) -> tuple[str, ...]:
        if not self.path:
            return ()
        return tuple(seg[1:-1] for seg in self.path.split("/") if seg.startswith("{"))


@dataclass(frozen=True)
class Topic:
    name: str
    schema: JSONSchema | None = None
    schema_name: str | None = None
    description: str = ""


@dataclass(frozen=True)
class Stream:
    """A stream pushed to clients: items (`set`/`delete`) and ephemeral events (`send`)
    per group, each item checked against `schema` when written."""

    name: str
    schema: JSONSchema | None = None
    schema_name: str | None = None
    description: str = ""


@dataclass(frozen=True)
class Cors:
    """`cors:`: the cross-origin requests the gateway allows (runner/_cors.py serves it)."""

    origins: tuple[str, ...]
    methods: tuple[str, ...] = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
    #: None: allow the headers a preflight asks for
    headers: tuple[str, ...] | None = None
    expose: tuple[str, ...] = ("x-trace-id",)
    credentials: bool = False
    max_age: float = 600.0


@dataclass(frozen=True)
class Flow:
    name: str
    description: str = ""


#: the event buses and state stores there are (the one list: flags, config, motia.yaml)
EVENT_ADAPTERS = ("memory", "rabbitmq")
STATE_ADAPTERS = ("memory", "sqlite", "redis", "postgres")


@dataclass(frozen=True)
class Adapters:
    events: str = "memory"
    state: str = "sqlite"


@dataclass(frozen=True)
class App:
    """A whole compiled project. `root` is the absolute directory holding motia.yaml."""

    name: str
    root: str
    source: str = "motia.yaml"
    version: int = 1
    adapters: Adapters = field(default_factory=Adapters)
    schemas: tuple[tuple[str, JSONSchema], ...] = ()
    topics: tuple[Topic, ...] = ()
    flows: tuple[Flow, ...] = ()
    steps: tuple[Step, ...] = ()
    streams: tuple[Stream, ...] = ()
    #: `streams_auth:` as a runnable api-like step (STREAMS_AUTH_STEP), or None
    streams_auth: Step | None = None
    #: every middleware some API step runs, each a runnable api-like step in its own
    #: workers, named MIDDLEWARE_PREFIX + its `middleware:` entry
    middlewares: tuple[Step, ...] = ()
    cors: Cors | None = None
    source_hash: str = ""

    def step(self, name: str) -> Step:
        for step in self.steps:
            if step.name == name:
                return step
        raise KeyError(name)

    def topic(self, name: str) -> Topic:
        for topic in self.topics:
            if topic.name == name:
                return topic
        raise KeyError(name)

    def stream(self, name: str) -> Stream:
        for stream in self.streams:
            if stream.name == name:
                return stream
        raise KeyError(name)

    def subscribers(self, topic: str) -> tuple[Step, ...]:
        """Steps that run when `topic` is published (noop subscribers excluded)."""
        return tuple(s for s in self.steps if topic in s.subscribes and s.runs)

    def steps_of(self, type_: StepType) -> tuple[Step, ...]:
        return tuple(s for s in self.steps if s.type == type_)
