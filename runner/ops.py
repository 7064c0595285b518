"""The ops routes every role serves, and the small HTTP server roles without HTTP get.

`/healthz` (alive) and `/readyz` (ready for work; see runner/health.py) answer on the
gateway's port for the `all` and `gateway` roles, and on the ops server for any role
started with `--metrics-port` (MOTIA_METRICS_PORT): the only HTTP a `workers` or `cron`
replica has. `/metrics` (runner/metrics.py, Prometheus text) is served beside them
unless metrics are turned off (MOTIA_METRICS=0).

They are outside the Workbench token on purpose: a load balancer's or kubelet's probe
cannot send one, and the answers reveal nothing secret (service kinds, the lifecycle
phase, and errors whose URLs have their passwords masked).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from motia.errors import AdapterUnavailable
from motia.runner import health
from motia.runner._http_errors import dumps, error_middleware
from motia.runner.metrics import CONTENT_TYPE

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_NO_STORE = {"Cache-Control": "no-store"}


def ops_routes(target: health.Probed) -> list[tuple[str, str, Handler]]:
    """(method, path, handler) of every ops route, answering for `target`."""

    async def healthz(request: web.Request) -> web.Response:
        return _json(health.liveness(target), 200)

    async def readyz(request: web.Request) -> web.Response:
        ready, report = await health.readiness(target)
        return _json(report, 200 if ready else 503)

    routes: list[tuple[str, str, Handler]] = [("GET", "/healthz", healthz),
                                              ("GET", "/readyz", readyz)]
    metrics = getattr(target, "metrics", None)
    if metrics is not None:
        async def metrics_text(request: web.Request) -> web.Response:
            body = await metrics.render()
            response = web.Response(body=body, headers=_NO_STORE)
            response.headers["Content-Type"] = CONTENT_TYPE
            return response

        routes.append(("GET", "/metrics", metrics_text))
    return routes


def add_ops_routes(app: web.Application, target: health.Probed,
                   wrap: Callable[[Handler], Handler] | None = None) -> None:
    for method, path, handler in ops_routes(target):
        app.router.add_route(method, path, wrap(handler) if wrap else handler)


class OpsServer:
    """The ops routes alone on their own port (`--metrics-port`); JSON errors elsewhere."""

    def __init__(self, target: Any) -> None:
        self.target = target
        self.port: int | None = None
        self._runner: web.AppRunner | None = None

    async def start(self, host: str, port: int) -> int:
        """Listen on host:port (0: a free port); the bound port."""
        config = self.target.config
        app = web.Application(middlewares=[error_middleware(self.target.logger, config.max_body)])
        add_ops_routes(app, self.target)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        try:
            await site.start()
        except OSError as exc:
            await self.close(0.0)
            raise AdapterUnavailable(
                f"cannot listen on {host}:{port} for the ops server: {exc.strerror or exc}; "
                "pick another port with --metrics-port or MOTIA_METRICS_PORT") from None
        self.port = bound_port(self._runner, port)
        return self.port

    async def close(self, grace: float) -> None:
        del grace  # probes are answered at once; nothing to drain
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()


def _json(value: Any, status: int) -> web.Response:
    return web.Response(status=status, text=dumps(value), content_type="application/json",
                        headers=_NO_STORE)


def bound_port(runner: web.AppRunner, asked: int) -> int:
    """The port `runner` listens on (the real one when `asked` was 0)."""
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            return int(address[1])
    return asked
