"""The generated compose.yaml is valid by the Compose Specification's own JSON Schema
(tests/build/data/, source noted in its README) and wires the roles to healthy services."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from _projects import build, example

SCHEMA = json.loads((Path(__file__).parent / "data" / "compose-spec.json").read_text())


def compose(root: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((build(root) / "compose.yaml").read_text())
    return loaded


@pytest.mark.parametrize("state", ["redis", "postgres"])
def test_compose_yaml_validates_against_the_compose_specification(
        tmp_path: Path, state: str) -> None:
    # Given the example app, its state in Redis (the default) or PostgreSQL
    root = example(tmp_path / "shop", app="shop")
    if state == "postgres":
        source = root / "motia.yaml"
        source.write_text(source.read_text().replace("state: sqlite", "state: postgres"))
    # When motia build writes compose.yaml
    spec = compose(root)
    # Then it is a valid Compose file
    jsonschema.Draft7Validator(SCHEMA).validate(spec)
    services = spec["services"]
    assert sorted(services) == sorted(["gateway", "workers", "cron", "rabbitmq", state])
    assert sorted(spec["volumes"]) == sorted(["rabbitmq-data", f"{state}-data"])
    # And every role waits for healthy services, is health-checked itself, reads .env
    for role in ("gateway", "workers", "cron"):
        service = services[role]
        assert service["depends_on"] == {"rabbitmq": {"condition": "service_healthy"},
                                         state: {"condition": "service_healthy"}}
        assert service["healthcheck"]["test"] == ["CMD", "motia", "probe"]
        assert service["env_file"] == [".env"]
        assert service["command"] == ["motia", "run", "--role", role, "--eager"]
        assert service["environment"]["MOTIA_STATE"] == state
    assert services["workers"]["deploy"]["replicas"] == 2
    assert services["gateway"]["ports"] == ["${MOTIA_PUBLISH_PORT:-3000}:3000"]
    # And the backing services have health checks and their data on a named volume
    for name in ("rabbitmq", state):
        assert services[name]["healthcheck"]["test"]
        assert services[name]["volumes"][0].startswith(f"{name}-data:")


def test_the_env_file_has_random_secrets_and_the_example_its_keys(tmp_path: Path) -> None:
    deploy = build(example(tmp_path / "shop", app="shop"))
    env = dict(line.split("=", 1) for line in (deploy / ".env").read_text().splitlines()
               if line and not line.startswith("#"))
    example_env = dict(line.split("=", 1) for line in
                       (deploy / ".env.example").read_text().splitlines()
                       if line and not line.startswith("#"))
    # Then both list the same keys; the example holds placeholders, .env real secrets
    assert sorted(env) == sorted(example_env) == [
        "MOTIA_WORKBENCH_TOKEN", "RABBITMQ_PASSWORD", "RABBITMQ_USER"]
    assert example_env["RABBITMQ_PASSWORD"] == "change-me"
    assert len(env["RABBITMQ_PASSWORD"]) >= 32 and env["RABBITMQ_PASSWORD"] != "change-me"
    assert env["MOTIA_WORKBENCH_TOKEN"] != env["RABBITMQ_PASSWORD"]
    assert (deploy / ".env").stat().st_mode & 0o777 == 0o600
    assert (deploy / ".gitignore").read_text().splitlines()[1:] == [".env", "k8s/secrets.env"]
