"""Liveness and readiness of one `motia run` replica, as the ops routes report them.

Liveness (`/healthz`) says the process and its event loop answer: when this code runs to
build the answer, they do. Nothing else is checked, so an orchestrator restarts a replica
only when it is truly stuck, never because Redis went away.

Readiness (`/readyz`) says this replica can do its role's work now: it is neither starting
nor draining (the first SIGTERM turns it off at once), the state store and the event bus
answer, and with `--eager` every step of its role has a warm worker. Each probe asks the
services again (bounded by CHECK_TIMEOUT), so readiness comes back by itself when a
service does; a failing check names the part and why, with passwords masked.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from motia.compiler.ir import App
from motia.errors import MotiaError
from motia.runner._redact import redact
from motia.runner.config import RunConfig

#: how long one probe waits for a service to answer before calling it unreachable
CHECK_TIMEOUT = 2.0

Report = dict[str, Any]


class Probed(Protocol):
    """What the probes read of a runtime (its parts exist once it has started them)."""

    app: App
    config: RunConfig
    store: Any
    bus: Any
    pool: Any
    started: bool
    draining: bool


def phase(target: Probed) -> str:
    """`starting` until every part is up, `running`, then `draining` from the first stop."""
    if target.draining:
        return "draining"
    return "running" if target.started else "starting"


def liveness(target: Probed) -> Report:
    return {"status": "alive", "app": target.app.name, "role": target.config.role,
            "phase": phase(target)}


async def readiness(target: Probed) -> tuple[bool, Report]:
    """(ready, the report): every check, and under `not_ready` the names of those failing."""
    checks: dict[str, Report] = {"lifecycle": _lifecycle(target)}
    if phase(target) != "starting":
        state, events = await asyncio.gather(
            _service(target.store, target.config.state, target.config.state_url),
            _service(target.bus, target.config.events, target.config.amqp_url))
        checks.update(state=state, events=events, workers=_workers(target))
    failing = [name for name, check in checks.items() if not check["ok"]]
    report = {"status": "not ready" if failing else "ready", "app": target.app.name,
              "role": target.config.role, "not_ready": failing, "checks": checks}
    return not failing, report


def _lifecycle(target: Probed) -> Report:
    now = phase(target)
    check: Report = {"ok": now == "running", "phase": now}
    if now == "draining":
        check["error"] = "stopping: in-flight work is draining and no new work is taken"
    elif now == "starting":
        check["error"] = "starting: the state store, the event bus and the workers are not all up"
    return check


async def _service(part: Any, kind: str, url: str | None) -> Report:
    check: Report = {"ok": True, "kind": kind}
    if url and kind not in ("memory", "sqlite"):
        check["url"] = redact(url)
    try:
        if part is None:
            raise MotiaError(f"the {kind} backend is not open")
        await asyncio.wait_for(part.ping(), CHECK_TIMEOUT)
    except TimeoutError:
        check.update(ok=False, error=f"{kind} did not answer within {CHECK_TIMEOUT:g} s")
    except Exception as exc:  # noqa: BLE001 -- any failure is the answer, never a 500
        check.update(ok=False, error=str(exc) or type(exc).__name__)
    return check


def _workers(target: Probed) -> Report:
    """With --eager, a warm worker for every step this role runs; else nothing to wait for."""
    config, pool = target.config, target.pool
    if not config.eager or pool is None:
        return {"ok": True, "eager": False}
    stats = pool.stats()
    cold: dict[str, str] = {}
    for step in target.app.steps:
        if step.runs and step.type in config.step_types:
            found = stats.get(step.name) or {}
            if not found.get("pids"):
                error = found.get("load_error")
                cold[step.name] = (f"its handler cannot be loaded: {error}" if error
                                   else "no worker process is running yet")
    check: Report = {"ok": not cold, "eager": True}
    if cold:
        check["error"] = "; ".join(f"step {name!r}: {why}" for name, why in cold.items())
    return check
