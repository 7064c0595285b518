"""`motia run` and `motia dev`: serve a project until SIGTERM/SIGINT.

Both compile the project, resolve the configuration (flag > env var > motia.yaml >
default), start the runtime and print the endpoints and the Workbench address. The first
SIGTERM or SIGINT stops intake and drains in-flight work within the grace period
(MOTIA_GRACE, 10 s), then the process exits 0; a second signal kills it at once.
`motia dev` also watches the project and reloads what changed (runner/dev.py).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from motia.compiler.ir import App

if TYPE_CHECKING:
    from motia.compiler import Compiled

EXIT_KILLED = 137


def register(sub: Any) -> None:
    """Add `run` and `dev` to the `motia` parser."""
    for name, dev, summary in (
        ("run", False, "serve the project: API, events, cron, Workbench"),
        ("dev", True, "`run` plus reloading when motia.yaml or a handler changes"),
    ):
        parser = sub.add_parser(name, help=summary, description=summary)
        _add_options(parser)
        parser.set_defaults(func=partial(run_command, dev=dev))


def _add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("project", nargs="?", default=".",
                        help="motia.yaml or the folder holding it (default: .)")
    parser.add_argument("--events", metavar="memory|rabbitmq", help="event bus (MOTIA_EVENTS)")
    parser.add_argument("--state", metavar="memory|sqlite|redis|postgres",
                        help="state store (MOTIA_STATE)")
    parser.add_argument("--amqp-url", help="RabbitMQ URL (MOTIA_AMQP_URL)")
    parser.add_argument("--state-url", help="Redis/PostgreSQL URL or SQLite file (MOTIA_STATE_URL)")
    parser.add_argument("--port", help="HTTP port (MOTIA_PORT, default 3000)")
    parser.add_argument("--host", help="bind address (MOTIA_HOST, default 127.0.0.1)")
    parser.add_argument("--role", metavar="all|gateway|workers|cron",
                        help="which parts this replica runs (MOTIA_ROLE, default all)")
    parser.add_argument("--metrics-port",
                        help="port of the ops server (/healthz, /readyz, /metrics) for roles "
                             "without HTTP; also serves them beside the gateway "
                             "(MOTIA_METRICS_PORT)")
    parser.add_argument("--log-format", metavar="pretty|json", help="MOTIA_LOG_FORMAT")
    parser.add_argument("--max-body", help="largest request body, e.g. 2MB (MOTIA_MAX_BODY)")
    parser.add_argument("--eager", action="store_true", default=None,
                        help="start every worker at boot instead of on first use")


def run_command(args: argparse.Namespace, *, dev: bool) -> int:
    from motia.runner.config import RunConfig

    source = project_source(args.project)
    if dev:  # a broken motia.yaml is printed and waited out, not an exit
        from motia.runner.dev import compile_or_wait

        compiled = compile_or_wait(source, compiled_and_warned, sys.stderr)
        assert compiled is not None  # only a stop event ends the wait early
    else:
        compiled = compiled_and_warned(source)
    app = compiled.app
    flags = {name: getattr(args, name) for name in (
        "events", "state", "amqp_url", "state_url", "port", "host", "role", "log_format",
        "max_body", "eager", "metrics_port")}
    flags["dev"] = dev
    config = RunConfig.resolve(flags, adapters=app.adapters)
    from motia.runner._loop import run as run_loop

    return run_loop(serve(app, config, source, refs=compiled.ref_files))


def project_source(project: str) -> Path:
    """The motia.yaml a `project` argument names (the file, or a folder holding one)."""
    from motia.compiler import project_file

    return project_file(project)[1].resolve()


def compile_and_warn(source: Path, stream: TextIO | None = None) -> App:
    """The project's plan, compiled only when it changed since the last compile
    (ProjectInvalid propagates to the CLI); print its warnings."""
    app: App = compiled_and_warned(source, stream).app
    return app


def compiled_and_warned(source: Path, stream: TextIO | None = None) -> Compiled:
    """`compile_and_warn`, with the `$ref` files the plan was built from."""
    from motia.compiler.plan import load_compiled

    compiled = load_compiled(source)
    out = stream or sys.stderr
    for warning in compiled.warnings:
        out.write(f"{warning}\n")
    return compiled


async def serve(app: App, config: Any, source: Path, *, out: TextIO | None = None,
                refs: tuple[str, ...] | None = None) -> int:
    """Run until the first signal, drain, and return the exit status."""
    from motia.runner.app import Runtime

    out = out or sys.stdout
    stop = asyncio.Event()
    runtime = Runtime(app, config)
    _install_signals(stop, runtime)
    await runtime.start()
    try:
        print_banner(runtime, out)
        reloader = None
        if config.dev:
            from motia.runner.dev import DevReloader

            reloader = asyncio.create_task(DevReloader(runtime, source, refs=refs).watch(stop))
        await stop.wait()
        runtime.logger.info(f"stopping: draining in-flight work (up to {config.grace:g}s); "
                            "send the signal again to kill")
        if reloader is not None:
            await asyncio.gather(reloader, return_exceptions=True)
    finally:
        await runtime.stop()
    runtime.logger.info("stopped")
    return 0


def _install_signals(stop: asyncio.Event, runtime: Any) -> None:
    loop = asyncio.get_running_loop()

    def on_signal(signum: int) -> None:
        if not stop.is_set():
            runtime.draining = True  # readiness off now, before the drain is scheduled
            stop.set()
            return
        sys.stderr.write(f"motia: {signal.Signals(signum).name} again: killing\n")
        sys.stderr.flush()
        _kill_workers(runtime)
        os._exit(EXIT_KILLED)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal, sig)


def _kill_workers(runtime: Any) -> None:
    """Best effort: do not leave worker processes behind when killed mid-drain."""
    for worker in list(getattr(runtime.pool, "workers", ())):
        with contextlib.suppress(Exception):  # we are exiting anyway
            worker.kill("was killed: the runner got a second stop signal")


def print_banner(runtime: Any, out: TextIO) -> None:
    """The endpoints table and where the Workbench and admin API listen."""
    from motia.runner._routes import describe

    app, config = runtime.app, runtime.config
    lines = [f"motia: app {app.name!r} ({len(app.steps)} steps) - events: {config.events}, "
             f"state: {config.state}, role: {config.role}" + (", dev mode" if config.dev else "")]
    rows = describe(app)
    if rows and config.serves_http:
        width = max(len(r["path"] or "") for r in rows)
        lines.append("")
        lines += [f"  {r['method']:<7} {runtime.url}{(r['path'] or ''):<{width}}  "
                  f"{r['step']} ({r['language']})" for r in rows]
    for step in app.steps:
        if step.type == "event" and step.runs and config.consumes:
            lines.append(f"  event   {', '.join(step.subscribes)} -> {step.name}")
        elif step.type == "cron" and step.runs and config.schedules:
            zone = f" {step.timezone}" if step.timezone else " UTC"
            lines.append(f"  cron    {step.cron}{zone} -> {step.name}")
    if config.serves_http:
        lines += ["", f"Listening on {runtime.url}",
                  f"Workbench: {runtime.url}/__motia/   admin API: {runtime.url}/__motia/api/"]
    probes = runtime.ops_url or (runtime.url if config.serves_http else None)
    if probes:
        lines.append(f"Health: {probes}/healthz   readiness: {probes}/readyz")
        if runtime.metrics is not None:
            lines.append(f"Metrics: {probes}/metrics")
    lines.append("Press Ctrl+C to stop.")
    out.write("\n".join(lines) + "\n")
    out.flush()
