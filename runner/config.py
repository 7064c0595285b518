"""How one `motia run` is configured: flags, environment, motia.yaml, defaults.

`RunConfig` is resolved once, before anything starts, from four sources in a fixed
precedence (SPEC section 6): a CLI flag beats an environment variable, which beats the
`adapters:` block of motia.yaml, which beats the built-in default. Every value is checked
here so a typo fails before a port is bound or a broker is dialled.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from motia.compiler.ir import EVENT_ADAPTERS, STATE_ADAPTERS, Adapters
from motia.errors import UsageError

ROLES = ("all", "gateway", "workers", "cron")
LOG_FORMATS = ("pretty", "json", "none")
EVENT_KINDS = EVENT_ADAPTERS
STATE_KINDS = STATE_ADAPTERS
LOOPBACK = ("127.0.0.1", "localhost", "::1")

#: environment variable per RunConfig field (read by `RunConfig.resolve`)
ENV_VARS: dict[str, str] = {
    "events": "MOTIA_EVENTS",
    "state": "MOTIA_STATE",
    "amqp_url": "MOTIA_AMQP_URL",
    "state_url": "MOTIA_STATE_URL",
    "port": "MOTIA_PORT",
    "host": "MOTIA_HOST",
    "role": "MOTIA_ROLE",
    "log_format": "MOTIA_LOG_FORMAT",
    "max_body": "MOTIA_MAX_BODY",
    "grace": "MOTIA_GRACE",
    "token": "MOTIA_WORKBENCH_TOKEN",
    "metrics_port": "MOTIA_METRICS_PORT",
    "metrics": "MOTIA_METRICS",
}


@dataclass(frozen=True)
class RunConfig:
    """Everything `Runtime` needs besides the plan; immutable once resolved."""

    events: str = "memory"
    state: str = "sqlite"
    amqp_url: str | None = None
    state_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 3000  # 0 picks a free port (the test harness)
    role: str = "all"
    log_format: str = "pretty"
    max_body: int = 1024 * 1024
    grace: float = 10.0
    eager: bool = False  # start every worker at boot instead of on first use
    dev: bool = False  # `motia dev`: response schemas checked, handler messages shown
    #: check API responses against their step's `responses:` schemas (a mismatch is a
    #: 500): on under `motia dev`, for `motia.testing` to turn on; never in plain `run`
    check_responses: bool = False
    token: str | None = None  # MOTIA_WORKBENCH_TOKEN, required off loopback
    #: the ops server's port (/healthz, /readyz): how roles without HTTP are probed; on
    #: roles with HTTP the same routes are also on the gateway's port. 0 picks a free port.
    metrics_port: int | None = None
    #: Prometheus metrics on `/metrics` (MOTIA_METRICS=0 turns them off)
    metrics: bool = True

    def __post_init__(self) -> None:
        _choice("--events", self.events, EVENT_KINDS)
        _choice("--state", self.state, STATE_KINDS)
        _choice("--role", self.role, ROLES)
        _choice("--log-format", self.log_format, LOG_FORMATS)
        if not 0 <= self.port <= 65535:
            raise UsageError(f"--port {self.port}: expected a port number from 0 to 65535")
        if self.metrics_port is not None and not 0 <= self.metrics_port <= 65535:
            raise UsageError(f"--metrics-port {self.metrics_port}: expected a port number "
                             "from 0 to 65535")
        if self.max_body < 1:
            raise UsageError(f"--max-body {self.max_body}: expected a positive number of bytes")
        if self.grace < 0:
            raise UsageError(f"MOTIA_GRACE {self.grace}: expected seconds >= 0")

    # --- roles --------------------------------------------------------------------------

    @property
    def serves_http(self) -> bool:
        """The gateway and admin API run in the `gateway` and `all` roles."""
        return self.role in ("all", "gateway")

    @property
    def consumes(self) -> bool:
        """Event steps are consumed in the `workers` and `all` roles."""
        return self.role in ("all", "workers")

    @property
    def schedules(self) -> bool:
        return self.role in ("all", "cron")

    @property
    def step_types(self) -> frozenset[str]:
        """The step types whose handlers this role invokes (and so warms with --eager)."""
        types = {"api"} if self.serves_http else set()
        types |= {"event"} if self.consumes else set()
        types |= {"cron"} if self.schedules else set()
        return frozenset(types)

    @property
    def checks_responses(self) -> bool:
        """Responses are checked against their schemas (`motia dev`, or asked for)."""
        return self.dev or self.check_responses

    @property
    def loopback(self) -> bool:
        return self.host in LOOPBACK

    @property
    def url(self) -> str:
        return self.url_for(self.port)

    def url_for(self, port: int) -> str:
        """http://HOST:PORT of something this replica serves on its bind address."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{port}"

    # --- resolution ---------------------------------------------------------------------

    @classmethod
    def resolve(
        cls,
        flags: Mapping[str, Any] | None = None,
        *,
        env: Mapping[str, str] | None = None,
        adapters: Adapters | None = None,
    ) -> RunConfig:
        """Merge flag > env var > motia.yaml adapters > default; `None` flags are unset."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        if adapters is not None:
            values.update(events=adapters.events, state=adapters.state)
        for name, var in ENV_VARS.items():
            if env.get(var):
                values[name] = _parse(name, env[var], var)
        known = {f.name for f in fields(cls)}
        for name, value in (flags or {}).items():
            if name not in known:
                raise UsageError(f"unknown run option {name!r}")
            if value is not None:
                values[name] = _parse(name, value, _flag(name))
        return cls(**values)

    def with_port(self, port: int) -> RunConfig:
        """The same config bound to `port` (the real port once a free one was picked)."""
        return replace(self, port=port)


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _choice(option: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise UsageError(f"{option} {value!r}: expected one of {', '.join(allowed)}")


def _parse(name: str, raw: Any, source: str) -> Any:
    """Convert a flag or env value to the field's type, naming the source on failure."""
    if name in ("port", "max_body", "metrics_port"):
        return _int(raw, source, name)
    if name == "grace":
        try:
            return float(raw)
        except (TypeError, ValueError):
            raise UsageError(f"{source}={raw!r}: expected a number of seconds") from None
    if name in ("eager", "dev", "check_responses", "metrics"):
        return raw if isinstance(raw, bool) else str(raw).lower() in ("1", "true", "yes", "on")
    return raw


_SIZE_SUFFIXES = {"kb": 1024, "kib": 1024, "mb": 1024**2, "mib": 1024**2, "b": 1}


def _int(raw: Any, source: str, name: str) -> int:
    if isinstance(raw, int):
        return raw
    text = str(raw).strip().lower()
    factor = 1
    if name == "max_body":
        for suffix, size in _SIZE_SUFFIXES.items():
            if text.endswith(suffix) and text[: -len(suffix)].strip().isdigit():
                text, factor = text[: -len(suffix)].strip(), size
                break
    try:
        return int(text) * factor
    except ValueError:
        what = "a number of bytes (e.g. 1048576 or 2MB)" if name == "max_body" else "an integer"
        raise UsageError(f"{source}={raw!r}: expected {what}") from None
