"""The deploy/ files of a `DeployPlan`, rendered from the jinja2 templates beside this module.

Rendering is pure: a plan in, `{path inside deploy/: bytes}` out; nothing is written
here (motia/build/files.py decides what may be). `env_file` renders deploy/.env, which
is not one of the tracked outputs: it is written once, with random secrets, and then
belongs to the user.
"""

from __future__ import annotations

import json
import secrets
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from motia.build.plan import GRACE, HTTP_PORT, OPS_PORT, DeployPlan

TEMPLATES = Path(__file__).resolve().parent / "templates"
SECRET_KEYS = ("RABBITMQ_PASSWORD", "POSTGRES_PASSWORD", "MOTIA_WORKBENCH_TOKEN")
#: output path inside deploy/ -> template
_FILES = {
    "Dockerfile": "Dockerfile.j2",
    # BuildKit reads <Dockerfile>.dockerignore beside the Dockerfile; a .dockerignore in
    # deploy/ would be ignored, since the build context is the project's folder
    "Dockerfile.dockerignore": "dockerignore.j2",
    ".gitignore": "gitignore.j2",
    ".env.example": "env.example.j2",
    "compose.yaml": "compose.yaml.j2",
    "k8s/kustomization.yaml": "k8s/kustomization.yaml.j2",
    "k8s/configmap.yaml": "k8s/configmap.yaml.j2",
    "k8s/secrets.env.example": "k8s/secrets.env.example.j2",
}


def render(plan: DeployPlan) -> dict[str, bytes]:
    """Every tracked file of deploy/ except the wheel, by its path inside deploy/."""
    out = {path: _render(template, plan, example=True, secrets=_placeholders())
           for path, template in _FILES.items()}
    for role in plan.roles:
        out[f"k8s/{role.name}.yaml"] = _render("k8s/role.yaml.j2", plan, role=role)
    return out


def env_file(plan: DeployPlan) -> bytes:
    """deploy/.env with a fresh random value for every secret."""
    values = {key: secrets.token_urlsafe(24) for key in SECRET_KEYS}
    return _render("env.example.j2", plan, example=False, secrets=values)


def _placeholders() -> dict[str, str]:
    return dict.fromkeys(SECRET_KEYS, "change-me")


def _render(template: str, plan: DeployPlan, **context: Any) -> bytes:
    text = _environment().get_template(template).render(
        plan=plan, http_port=HTTP_PORT, ops_port=OPS_PORT, grace=GRACE, **context)
    return text.encode()


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), undefined=jinja2.StrictUndefined,
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True, autoescape=False)
    env.filters["tojson"] = lambda value: json.dumps(list(value) if isinstance(value, tuple)
                                                     else value)
    return env
