"""Who may subscribe: the app's `streams_auth` handler, or the Workbench token's rule.

With `streams_auth: steps/auth_stream.py` each subscription runs that handler in its own
worker (like a step, either language) with a request-shaped `req`: the connection's
`headers` and `query`, and `subscription: {stream, group, id}`. It allows with `true` or
`{"allowed": true}` and refuses with `false` / `{"allowed": false, "reason": "..."}`; a
handler that fails refuses (fail closed) and its error is logged. The stream routes then
skip the Workbench token, so an app's own users can subscribe.

Without it, the routes are guarded like the Workbench and the admin API: open on
loopback, and beyond it only with MOTIA_WORKBENCH_TOKEN (header, cookie or `?token=`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web

from motia.errors import InvocationError
from motia.runner.bus.base import new_id
from motia.runner.workers.api import InvocationContext

if TYPE_CHECKING:
    from motia.runner.app import Runtime


@dataclass(frozen=True)
class Refusal:
    """Why a subscription was refused, and the HTTP status that says so."""

    status: int
    message: str


class StreamsAuth:
    """Allows or refuses subscriptions for `runtime`'s app."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    @property
    def custom(self) -> bool:
        """True when the app has a `streams_auth` handler (the routes skip the token)."""
        return self.runtime.app.streams_auth is not None

    async def check(self, request: web.Request, stream: str, group: str,
                    id_: str | None) -> Refusal | None:
        """None when allowed, else the refusal."""
        step = self.runtime.app.streams_auth
        if step is None:
            return None
        subscription = {"stream": stream, "group": group, "id": id_}
        payload = {
            "body": None, "query": dict(request.query), "params": {},
            "headers": {k.lower(): v for k, v in request.headers.items()},
            "method": request.method, "path": request.path, "subscription": subscription,
        }
        ctx = InvocationContext(trace_id=new_id(), event_id=new_id())
        try:
            result = await self.runtime.invoke(step, payload, ctx)
        except InvocationError as exc:
            self.runtime.logger.error(
                f"streams_auth failed, subscription to {stream}/{group} refused: "
                f"{exc.type}: {exc.message}", {"subscription": subscription},
                step=step.name, trace_id=ctx.trace_id)
            return Refusal(503, "streams_auth failed; see the server log")
        return _verdict(result.value)


def _verdict(value: Any) -> Refusal | None:
    if value is True:
        return None
    if isinstance(value, dict) and value.get("allowed") is True:
        return None
    reason = value.get("reason") if isinstance(value, dict) else None
    return Refusal(403, str(reason) if reason else "refused by streams_auth")
