"""`motia build`: the deploy/ folder of a project, from its motia.yaml.

`build_project` compiles the project, works out the deployment (plan.py), packs the
running Motia as a wheel (wheel.py), renders the files (render.py) and writes them
without losing a user's edit (files.py). deploy/.env is written once, with random
secrets, and never again.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from motia.build.files import Outcome, write_outputs
from motia.build.plan import DeployPlan, deploy_plan
from motia.build.render import env_file, render
from motia.build.wheel import build_wheel, motia_version, wheel_name

DEPLOY_DIR = "deploy"


@dataclass(frozen=True)
class Built:
    """Where deploy/ is, the plan it was rendered from, and what the build did."""

    out: Path
    plan: DeployPlan
    outcome: Outcome
    env_created: bool


def plan_project(source: Path, *, image: str | None = None) -> DeployPlan:
    """The plan `build_project` would render, without writing anything (--dry-run)."""
    from motia._cmd_run import compile_and_warn

    version = motia_version()
    return deploy_plan(compile_and_warn(source), image=image, wheel=wheel_name(version),
                       motia_version=version)


def build_project(source: Path, *, force: bool = False, image: str | None = None) -> Built:
    """Write `source`'s deploy/ folder; raises ProjectInvalid, EditedFiles."""
    from motia._cmd_run import compile_and_warn

    app = compile_and_warn(source)
    wheel, wheel_bytes = build_wheel()
    plan = deploy_plan(app, image=image, wheel=wheel, motia_version=motia_version())
    out = source.parent / DEPLOY_DIR
    out.mkdir(exist_ok=True)
    files = {**render(plan), wheel: wheel_bytes}
    env = out / ".env"
    created = not env.exists()
    if created:
        env.write_bytes(env_file(plan))
        env.chmod(0o600)
    outcome = write_outputs(out, files, force=force, app=plan.app, version=plan.motia_version)
    return Built(out=out, plan=plan, outcome=outcome, env_created=created)
