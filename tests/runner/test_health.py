"""/healthz and /readyz: on the gateway's port, and on the ops server (`--metrics-port`)
for roles without HTTP; outside the Workbench token; JSON that names what is not ready."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest
from _runtime_projects import FIXABLE_FILES, FIXABLE_YAML, write_project

from motia.compiler import compile_project
from motia.compiler.ir import App
from motia.errors import AdapterUnavailable, UsageError
from motia.runner.app import Runtime
from motia.runner.config import RunConfig

READY_EMBEDDED = {
    "status": "ready", "app": "fixable", "not_ready": [],
    "checks": {"lifecycle": {"ok": True, "phase": "running"},
               "state": {"ok": True, "kind": "memory"},
               "events": {"ok": True, "kind": "memory"},
               "workers": {"ok": True, "eager": False}}}


@pytest.fixture
def plan(tmp_path: Path) -> App:
    app: App = compile_project(write_project(tmp_path, FIXABLE_YAML, FIXABLE_FILES)).app
    return app


async def get(url: str) -> tuple[int, Any, dict[str, str]]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.json(), dict(response.headers)


async def test_the_gateway_answers_both_probes_beside_the_steps(plan: App) -> None:
    # Given the app served in the `all` role on the embedded backends
    config = RunConfig(state="memory", port=0, log_format="none")
    async with Runtime(plan, config) as runtime:
        # When the probes are asked on the gateway's port
        alive = await get(runtime.url + "/healthz")
        ready = await get(runtime.url + "/readyz")
        # Then both answer 200 with what they checked, never cached
        assert alive[:2] == (200, {"status": "alive", "app": "fixable", "role": "all",
                                   "phase": "running"})
        assert ready[:2] == (200, {**READY_EMBEDDED, "role": "all"})
        assert ready[2]["Cache-Control"] == "no-store"
        # And the steps' routes still work beside them
        status, body, _ = await get(runtime.url + "/no-such-route")
        assert (status, body["error"]["message"]) == (404, "no route for GET /no-such-route")


async def test_probes_need_no_workbench_token_where_the_admin_api_does(plan: App) -> None:
    # Given a gateway bound beyond 127.0.0.1 (so the Workbench token is required)
    config = RunConfig(state="memory", host="127.0.0.2", port=0, log_format="none",
                       token="s3cret")
    async with Runtime(plan, config) as runtime:
        # When a probe without the token asks
        assert (await get(runtime.url + "/readyz"))[0] == 200
        assert (await get(runtime.url + "/healthz"))[0] == 200
        # Then it is answered, while the admin API still refuses the same client
        assert (await get(runtime.url + "/__motia/api/health"))[0] == 401


async def test_a_workers_replica_serves_the_probes_on_its_ops_port_only(plan: App) -> None:
    # Given a workers-role replica with an ops server on a free port
    config = RunConfig(state="memory", role="workers", metrics_port=0, log_format="none")
    async with Runtime(plan, config) as runtime:
        assert runtime.port is None and runtime.ops_port
        ops = runtime.ops_url
        assert ops == f"http://127.0.0.1:{runtime.ops_port}"
        # When it is probed
        status, body, _ = await get(ops + "/readyz")
        # Then it is ready, and every other path is a JSON 404
        assert (status, body) == (200, {**READY_EMBEDDED, "role": "workers"})
        status, body, _ = await get(ops + "/__motia/api/health")
        assert (status, body["error"]["message"]) == (404, "no route for GET /__motia/api/health")


async def test_readiness_is_off_once_the_runtime_drains(plan: App) -> None:
    # Given a running workers replica with an ops server
    config = RunConfig(state="memory", role="workers", metrics_port=0, log_format="none")
    runtime = Runtime(plan, config)
    await runtime.start()
    try:
        from motia.runner import health

        # When it starts to stop
        runtime.draining = True
        ready, report = await health.readiness(runtime)
        # Then readiness is off, naming the lifecycle, while liveness still answers
        assert not ready
        assert report["not_ready"] == ["lifecycle"]
        assert report["checks"]["lifecycle"] == {
            "ok": False, "phase": "draining",
            "error": "stopping: in-flight work is draining and no new work is taken"}
        assert health.liveness(runtime)["phase"] == "draining"
    finally:
        runtime.draining = False
        await runtime.stop()


async def test_a_taken_ops_port_is_a_one_line_error_naming_the_fix(plan: App) -> None:
    # Given a port already in use by another ops server
    first = Runtime(plan, RunConfig(state="memory", role="workers", metrics_port=0,
                                    log_format="none"))
    async with first:
        taken = RunConfig(state="memory", role="workers", metrics_port=first.ops_port,
                          log_format="none")
        # When a second replica asks for it, Then it fails at start with the fix
        with pytest.raises(AdapterUnavailable, match=(
                rf"cannot listen on 127.0.0.1:{first.ops_port} for the ops server: .+; pick "
                "another port with --metrics-port or MOTIA_METRICS_PORT")):
            await Runtime(plan, taken).start()


def test_the_metrics_port_comes_from_the_flag_or_the_environment() -> None:
    assert RunConfig.resolve({"metrics_port": "9464"}).metrics_port == 9464
    assert RunConfig.resolve({}, env={"MOTIA_METRICS_PORT": "9100"}).metrics_port == 9100
    assert RunConfig.resolve({"metrics_port": "9200"},
                             env={"MOTIA_METRICS_PORT": "9100"}).metrics_port == 9200
    assert RunConfig.resolve({}, env={}).metrics_port is None
    with pytest.raises(UsageError, match=r"^--metrics-port='x': expected an integer$"):
        RunConfig.resolve({"metrics_port": "x"})
    with pytest.raises(UsageError, match=(
            r"^--metrics-port 70000: expected a port number from 0 to 65535$")):
        RunConfig.resolve({}, env={"MOTIA_METRICS_PORT": "70000"})


async def test_motia_probe_exits_0_when_ready_and_1_with_the_failing_checks(
        plan: App, monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio
    import contextlib
    import io

    from motia.cli import main

    def probe(*args: str) -> tuple[int, str]:
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            code = main(["probe", *args])
        return code, err.getvalue()

    # Given a workers replica whose ops port is in MOTIA_METRICS_PORT (as in a container)
    config = RunConfig(state="memory", role="workers", metrics_port=0, log_format="none")
    async with Runtime(plan, config) as runtime:
        monkeypatch.setenv("MOTIA_METRICS_PORT", str(runtime.ops_port))
        # When it is ready, Then `motia probe` exits 0 and says nothing
        assert await asyncio.to_thread(probe) == (0, "")
        assert await asyncio.to_thread(probe, "--live") == (0, "")
        # When it drains, Then the probe fails naming the check
        runtime.draining = True
        assert await asyncio.to_thread(probe) == (1, (
            f"motia: error: {runtime.ops_url}/readyz answered 503: lifecycle: stopping: "
            "in-flight work is draining and no new work is taken\n"))
        runtime.draining = False
    # And with nobody listening it says so
    code, err = await asyncio.to_thread(probe)
    assert code == 1
    assert err.startswith(f"motia: error: no answer from {runtime.ops_url}/readyz (")


SLOW_IMPORT_YAML = """
    version: 1
    app: warmth
    flows: {f: {}}
    topics:
      job: {}
    steps:
      slow:
        type: event
        subscribes: [job]
        flows: [f]
        handler: steps/slow.py
"""
# Importing the handler takes 2 s, so a replaced worker is cold long enough to be seen.
SLOW_IMPORT_FILES = {"steps/slow.py": """
    import time

    time.sleep(2)

    async def handler(data, ctx):
        pass
"""}


async def test_with_eager_a_step_without_a_warm_worker_is_not_ready(tmp_path: Path) -> None:
    import asyncio
    import os
    import signal

    from motia.runner import health

    source = write_project(tmp_path, SLOW_IMPORT_YAML, SLOW_IMPORT_FILES)
    app: App = compile_project(source).app
    config = RunConfig(state="memory", role="workers", eager=True, log_format="none")
    async with Runtime(app, config) as runtime:
        # Given an eager workers replica, ready once its worker is warm
        ready, report = await health.readiness(runtime)
        assert ready and report["checks"]["workers"] == {"ok": True, "eager": True}
        # When the step's only worker is killed
        (worker,) = list(runtime.pool.workers)
        os.kill(worker.pid, signal.SIGKILL)
        # Then readiness names the step until its replacement is warm, then comes back
        deadline = asyncio.get_running_loop().time() + 30
        while (found := await health.readiness(runtime))[0]:
            assert asyncio.get_running_loop().time() < deadline, "never saw the cold worker"
            await asyncio.sleep(0.02)
        assert found[1]["not_ready"] == ["workers"]
        assert found[1]["checks"]["workers"] == {
            "ok": False, "eager": True,
            "error": "step 'slow': no worker process is running yet"}
        while not (await health.readiness(runtime))[0]:
            assert asyncio.get_running_loop().time() < deadline, "the worker never came back"
            await asyncio.sleep(0.05)
