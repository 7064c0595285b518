"""`motia deploy`: the commands that put a built deploy/ live, and the wait for readiness.

The command lists are worked out first (pure: `compose_commands`, `kubernetes_commands`),
so `--dry-run` prints exactly what a real run executes. A real run checks that every tool
is installed before it runs the first command, runs them in order (stopping at the first
failure, whose output the user has just seen), then waits until the app answers
/readyz: through the published port for compose, through the API server's service proxy
for Kubernetes (after `kubectl rollout status` of every Deployment).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from motia.build.plan import HTTP_PORT, DeployPlan
from motia.errors import MotiaError

TARGETS = ("compose", "kubernetes")
INSTALL = {
    "docker": "install Docker Engine with its Compose plugin (https://docs.docker.com/engine/install/)",
    "kubectl": "install kubectl and point it at your cluster (https://kubernetes.io/docs/tasks/tools/)",
}


class ToolMissing(MotiaError):
    """Raised when `motia deploy` needs docker or kubectl and it is not on PATH."""

    exit_code = 127  # the shell's "command not found"


class DeployFailed(MotiaError):
    """Raised when a deploy command fails or the app does not become ready in time."""


@dataclass(frozen=True)
class Options:
    """What the user chose beside the target."""

    namespace: str | None = None
    context: str | None = None
    push: bool = False  # kubernetes: docker build + push the image first
    timeout: float = 300.0


@dataclass(frozen=True)
class Command:
    argv: tuple[str, ...]
    why: str  # "... while trying to <why>" when it fails
    hint: str = ""  # the fix, when a failure has a usual cause

    def __str__(self) -> str:
        return shlex.join(self.argv)


def compose_commands(options: Options) -> list[Command]:
    docker = ("docker", "--context", options.context) if options.context else ("docker",)
    compose = str(Path("deploy") / "compose.yaml")
    return [Command((*docker, "compose", "-f", compose, "up", "-d", "--build"),
                    "build the image and start every service")]


def kubernetes_commands(plan: DeployPlan, options: Options) -> list[Command]:
    commands = []
    if options.push:
        commands += [
            Command(("docker", "build", "-f", "deploy/Dockerfile", "-t", plan.image, "."),
                    "build the image"),
            Command(("docker", "push", plan.image), "push it where the cluster pulls from")]
    kubectl = _kubectl(options)
    secret = f"{plan.name}-secrets"
    commands.append(Command(
        (*kubectl, "get", "secret", secret), "check that the Secret the Deployments read exists",
        f"fill deploy/k8s/secrets.env (keys: secrets.env.example), then `kubectl create secret "
        f"generic {secret} --from-env-file=deploy/k8s/secrets.env`"))
    commands.append(Command((*kubectl, "apply", "-k", "deploy/k8s"), "apply the manifests"))
    commands += [Command((*kubectl, "rollout", "status", f"deployment/{plan.name}-{role.name}",
                          f"--timeout={options.timeout:g}s"), f"wait for the {role.name} role")
                 for role in plan.roles]
    return commands


def tools(target: str, options: Options) -> list[str]:
    """The programs a deploy to `target` runs (checked before anything is built)."""
    if target == "compose":
        return ["docker"]
    return ["docker", "kubectl"] if options.push else ["kubectl"]


def check_tools(names: list[str]) -> None:
    for name in names:
        if shutil.which(name) is None:
            raise ToolMissing(f"{name} is not installed (not on PATH): {INSTALL[name]}")


def run(commands: list[Command], cwd: Path, say: Callable[[str], None]) -> None:
    for command in commands:
        say(f"$ {command}")
        try:
            done = subprocess.run(command.argv, cwd=cwd, check=False)
        except OSError as exc:
            raise DeployFailed(f"`{command}` could not start: {exc}") from None
        if done.returncode != 0:
            raise DeployFailed(_failed(command, done.returncode))


def _failed(command: Command, code: int) -> str:
    message = f"`{command}` failed (exit status {code}) while trying to {command.why}"
    return f"{message}; {command.hint}" if command.hint else message


def wait_ready(probe: Callable[[], str | None], timeout: float, what: str,
               *, every: float = 1.0) -> None:
    """Call `probe` (None when ready, else why not) until ready or `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        why = probe()
        if why is None:
            return
        if time.monotonic() >= deadline:
            raise DeployFailed(f"{what} was not ready within {timeout:g} s (last answer: "
                               f"{why})")
        time.sleep(every)


def http_probe(url: str) -> Callable[[], str | None]:
    def probe() -> str | None:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310
                response.read()
            return None
        except urllib.error.HTTPError as exc:
            return f"{exc.code} {exc.read().decode(errors='replace')[:300]}"
        except (urllib.error.URLError, OSError) as exc:
            return str(getattr(exc, "reason", exc))

    return probe


def service_probe(plan: DeployPlan, options: Options, namespace: str) -> Callable[[], str | None]:
    """/readyz of the gateway Service, asked through the API server (no port-forward)."""
    path = f"/api/v1/namespaces/{namespace}/services/{plan.name}-gateway:http/proxy/readyz"
    argv = (*_kubectl(options), "get", "--raw", path)

    def probe() -> str | None:
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        return None if done.returncode == 0 else (done.stderr or done.stdout).strip()[:300]

    return probe


def namespace_of(options: Options) -> str:
    """The namespace kubectl uses: --namespace, else the context's, else `default`."""
    if options.namespace:
        return options.namespace
    context = ("--context", options.context) if options.context else ()
    done = subprocess.run(["kubectl", *context, "config", "view", "--minify", "--output",
                           "jsonpath={..namespace}"], capture_output=True, text=True,
                          check=False)
    return done.stdout.strip() or "default"


def published_port(deploy: Path) -> int:
    """The host port of the gateway: MOTIA_PUBLISH_PORT (environment, then deploy/.env)."""
    raw = os.environ.get("MOTIA_PUBLISH_PORT") or _dotenv(deploy / ".env").get(
        "MOTIA_PUBLISH_PORT")
    return int(raw) if raw and raw.isdigit() else HTTP_PORT


def _dotenv(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    pairs = (line.split("=", 1) for line in path.read_text().splitlines()
             if "=" in line and not line.lstrip().startswith("#"))
    return {k.strip(): v.strip() for k, v in pairs}


def _kubectl(options: Options) -> tuple[str, ...]:
    argv: tuple[str, ...] = ("kubectl",)
    if options.context:
        argv += ("--context", options.context)
    if options.namespace:
        argv += ("--namespace", options.namespace)
    return argv
