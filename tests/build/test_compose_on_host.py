"""The services of the generated compose.yaml, run as-is on this host, serve the example
app end to end against the real RabbitMQ and Redis, and every health check passes.

No container engine runs here, so each compose service's `command`, its environment
(`env_file` + `environment`, interpolated from deploy/.env as compose does) and its
`healthcheck` command are run as host processes, in the project's folder (the image's
WORKDIR). Only what a host cannot share with containers is changed: the service host
names in the URLs become 127.0.0.1, and each replica gets free ports instead of 3000 and
9464 (several replicas share this one network namespace). deploy/.env gets the shared
broker's credentials, as a user would enter theirs.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from _projects import build, example
from conftest import require_service
from production._cluster import delete_state, delete_topology, eventually, free_port

pytestmark = [pytest.mark.services, pytest.mark.timeout(300)]

_VARIABLE = re.compile(r"\$\{(\w+)(?::([-?])([^}]*))?\}")
BIN = str(Path(sys.executable).parent)  # where this checkout's `motia` is installed


def read_env(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines()
             if "=" in line and not line.lstrip().startswith("#"))
    return {key.strip(): value.strip() for key, value in pairs}


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR:?error}, through lists and maps."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def one(found: re.Match[str]) -> str:
        name, kind, extra = found.groups()
        if env.get(name):
            return env[name]
        assert kind != "?", f"compose would refuse: {name}: {extra}"
        return extra if kind == "-" else ""

    return _VARIABLE.sub(one, value)


class HostService:
    """The replicas of one compose service, as host processes."""

    def __init__(self, name: str, spec: dict[str, Any], root: Path, dotenv: dict[str, str]):
        self.name = name
        self.spec = spec
        self.root = root
        self.envs: list[dict[str, str]] = []
        self.procs: list[subprocess.Popen[bytes]] = []
        base = {k: v for k, v in os.environ.items() if not k.startswith("MOTIA_")}
        base["PATH"] = f"{BIN}:{base['PATH']}"
        for _ in range(spec.get("deploy", {}).get("replicas", 1)):
            env = {**base, **dotenv, **{k: str(v) for k, v in spec["environment"].items()}}
            for key in ("MOTIA_AMQP_URL", "MOTIA_STATE_URL"):
                env[key] = re.sub(r"(@|//)(rabbitmq|redis|postgres):", r"\g<1>127.0.0.1:",
                                  env[key])
            env.update(MOTIA_PORT=str(free_port()), MOTIA_METRICS_PORT=str(free_port()))
            self.envs.append(env)

    def start(self) -> None:
        for n, env in enumerate(self.envs):
            log = open(self.root / f"{self.name}.{n}.log", "wb")
            self.procs.append(subprocess.Popen(self.spec["command"], env=env, cwd=self.root,
                                               stdout=log, stderr=subprocess.STDOUT))
            log.close()

    def health_checks(self) -> list[int]:
        """Exit status of the service's health check, run as compose runs it, per replica."""
        return [run_check(self.spec["healthcheck"]["test"], env, self.root) for env in self.envs]

    def logs(self) -> str:
        return "\n".join((self.root / f"{self.name}.{n}.log").read_text(errors="replace")[-3000:]
                         for n in range(len(self.procs)))

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(40)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def run_check(test: list[str], env: dict[str, str], cwd: Path) -> int:
    form, *args = test
    command = ["sh", "-c", args[0]] if form == "CMD-SHELL" else args
    assert form in ("CMD", "CMD-SHELL"), test
    return subprocess.run(command, env=env, cwd=cwd, capture_output=True, timeout=60).returncode


@pytest.fixture
async def deployed(tmp_path: Path) -> AsyncIterator[tuple[dict[str, HostService], dict[str, Any]]]:
    for service in ("rabbitmq", "redis", "node"):
        require_service(service)
    root = example(tmp_path / "shop")
    deploy = build(root)
    env_file = deploy / ".env"  # the user enters the broker's credentials (the shared one's)
    env_file.write_text(re.sub(r"(?m)^RABBITMQ_(USER|PASSWORD)=.*$", "RABBITMQ_\\1=guest",
                               env_file.read_text()))
    dotenv = read_env(env_file)
    assert (dotenv["RABBITMQ_USER"], dotenv["RABBITMQ_PASSWORD"]) == ("guest", "guest")
    spec = interpolate(yaml.safe_load((deploy / "compose.yaml").read_text()), dotenv)
    services = {name: HostService(name, s, root, dotenv if s["env_file"] == [".env"] else {})
                for name, s in spec["services"].items() if s.get("command", [""])[0] == "motia"}
    app_name = yaml.safe_load((root / "motia.yaml").read_text())["app"]
    try:
        yield services, spec
    finally:
        for service in services.values():
            service.stop()
        from motia.compiler import compile_project

        await delete_topology(compile_project(root / "motia.yaml").app)
        await delete_state(app_name, "redis")


async def test_the_compose_services_serve_the_example_on_the_host(
        deployed: tuple[dict[str, HostService], dict[str, Any]]) -> None:
    services, spec = deployed
    # Given the backing services' own health checks pass against the real RabbitMQ, Redis
    for name in ("rabbitmq", "redis"):
        assert run_check(spec["services"][name]["healthcheck"]["test"], dict(os.environ),
                         Path.cwd()) == 0, f"the {name} health check failed"
    # When every role's command runs with its replicas (gateway 1, workers 2, cron 1)
    assert {n: len(s.envs) for n, s in services.items()} == {"gateway": 1, "workers": 2,
                                                             "cron": 1}
    for service in services.values():
        service.start()
    # Then each replica's health check (`motia probe`) passes once it is ready
    for service in services.values():
        await eventually(lambda s=service: _healthy(s), 120, every=0.5,
                         what=f"{service.name}'s health check")
    # And an order placed on the gateway reaches its receipt through the workers
    gateway = f"http://127.0.0.1:{services['gateway'].envs[0]['MOTIA_PORT']}"
    order = {"customer": "ada@example.com", "currency": "EUR",
             "items": [{"sku": "book", "quantity": 2, "price": 1500}]}
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{gateway}/orders", json=order) as response:
            assert response.status == 201, await response.text()
            placed = await response.json()

        async def paid() -> bool:
            async with session.get(f"{gateway}/orders/{placed['id']}") as r:
                return bool(r.status == 200 and (await r.json())["status"] == "paid")

        await eventually(paid, 60, what="the order's receipt (status paid)")
    # And every health check still passes
    for service in services.values():
        assert service.health_checks() == [0] * len(service.envs), service.logs()


async def _healthy(service: HostService) -> bool:
    for proc in service.procs:
        assert proc.poll() is None, f"{service.name} exited:\n{service.logs()}"
    codes = await asyncio.to_thread(service.health_checks)
    return codes == [0] * len(codes)
