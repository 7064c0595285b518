"""What `motia build` deploys, worked out from the compiled app (and which of
requirements.txt, pyproject.toml and package.json the project has); no file is written.

A deployment runs each role in its own service (compose) or Deployment (Kubernetes):
`gateway` for the API steps, `workers` for the event steps, `cron` for the cron steps;
a role with no step to run is left out. Replicas share RabbitMQ and Redis (or PostgreSQL
when motia.yaml says `adapters.state: postgres`): the embedded bus and SQLite cannot be
shared between containers, so a deployment always uses the networked ones.

A role's memory is what its workers may use (each step's `memory:` x `workers:`, the
limit over which a worker is replaced) plus the host process; the container's limit is
the same figure, so the kernel's OOM killer never gets there before Motia does.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

from motia.compiler.ir import App

HTTP_PORT = 3000
OPS_PORT = 9464  # the ops server (--metrics-port): probes, and /metrics beside them
HOST_MEMORY = 256 * 1024 * 1024  # the `motia run` process itself
HOST_CPU_MILLIS = 100
WORKER_CPU_MILLIS = 100
GRACE = 25  # MOTIA_GRACE; the orchestrators wait 30 s before they kill
ROLE_STEPS = {"gateway": "api", "workers": "event", "cron": "cron"}
#: replicas per role; cron needs one (a lease fires each tick once), the others two for
#: a rolling update and a node drain without downtime
REPLICAS = {"gateway": 2, "workers": 2, "cron": 1}
_DNS_UNSAFE = re.compile(r"[^a-z0-9-]+")


@dataclass(frozen=True)
class Role:
    """One role of the deployment and what its containers need."""

    name: str
    steps: tuple[str, ...]
    replicas: int
    memory_mib: int
    cpu_millis: int

    @property
    def command(self) -> tuple[str, ...]:
        return ("motia", "run", "--role", self.name, "--eager")

    @property
    def serves_http(self) -> bool:
        return self.name == "gateway"

    @property
    def autoscaled(self) -> bool:
        """Gateways and workers scale out; a second cron replica would only wait."""
        return self.name != "cron"


@dataclass(frozen=True)
class DeployPlan:
    """Everything the deploy templates are rendered from."""

    app: str  # the app's name in motia.yaml
    name: str  # the same as a DNS label: Kubernetes objects, compose project, image
    image: str  # repository:tag
    roles: tuple[Role, ...]
    state: str  # "redis" | "postgres"
    node: bool  # some handler is Node.js: the image gets Node 20
    requirements: bool  # requirements.txt in the project
    pyproject: bool  # pyproject.toml: the project is a Python package of its own
    package_json: bool
    wheel: str  # the vendored motia wheel's file name, inside deploy/
    motia_version: str

    @property
    def image_name(self) -> str:
        return self.image.rsplit(":", 1)[0] if ":" in self.image.rsplit("/", 1)[-1] else self.image

    @property
    def image_tag(self) -> str:
        return self.image[len(self.image_name) + 1:] or "latest"


def dns_name(app: str) -> str:
    """`app` as a DNS-1123 label short enough for `<name>-workers` (Kubernetes names)."""
    name = _DNS_UNSAFE.sub("-", app.lower()).strip("-")[:40].strip("-")
    return name or "motia-app"


def deploy_plan(app: App, *, image: str | None, wheel: str, motia_version: str) -> DeployPlan:
    root = Path(app.root)
    name = dns_name(app.name)
    return DeployPlan(
        app=app.name, name=name, image=image or f"{name}:latest", roles=roles(app),
        state="postgres" if app.adapters.state == "postgres" else "redis",
        node=any(s.runs and s.handler and s.handler.language == "node" for s in app.steps),
        requirements=(root / "requirements.txt").is_file(),
        pyproject=(root / "pyproject.toml").is_file(),
        package_json=(root / "package.json").is_file(),
        wheel=wheel, motia_version=motia_version,
    )


def roles(app: App) -> tuple[Role, ...]:
    """The roles that have steps to run, each with its replicas and resources."""
    found = []
    for role, step_type in ROLE_STEPS.items():
        steps = [s for s in app.steps if s.type == step_type and s.runs]
        if not steps:
            continue
        memory = HOST_MEMORY + sum(s.memory * s.workers for s in steps)
        workers = sum(s.workers for s in steps)
        found.append(Role(name=role, steps=tuple(s.name for s in steps),
                          replicas=REPLICAS[role], memory_mib=math.ceil(memory / 2**20),
                          cpu_millis=HOST_CPU_MILLIS + WORKER_CPU_MILLIS * workers))
    return tuple(found)
