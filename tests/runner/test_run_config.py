"""RunConfig: flag > env var > motia.yaml adapters > default, every value checked."""

from __future__ import annotations

import pytest

from motia.compiler.ir import Adapters
from motia.errors import UsageError
from motia.runner.config import RunConfig


def test_defaults_are_the_embedded_backends_on_loopback() -> None:
    config = RunConfig.resolve({}, env={})
    assert (config.events, config.state, config.host, config.port) == (
        "memory", "sqlite", "127.0.0.1", 3000)
    assert (config.role, config.max_body, config.grace) == ("all", 1024 * 1024, 10.0)


def test_flag_beats_env_beats_motia_yaml_beats_default() -> None:
    adapters = Adapters(events="rabbitmq", state="redis")
    env = {"MOTIA_STATE": "postgres", "MOTIA_PORT": "4000", "MOTIA_EVENTS": "memory"}
    config = RunConfig.resolve({"state": "memory", "port": None}, env=env, adapters=adapters)
    assert config.state == "memory"  # flag
    assert config.port == 4000  # env (the flag was not given)
    assert config.events == "memory"  # env over motia.yaml
    assert RunConfig.resolve({}, env={}, adapters=adapters).events == "rabbitmq"  # motia.yaml


def test_sizes_and_seconds_are_parsed_from_text() -> None:
    config = RunConfig.resolve({"max_body": "2MB"}, env={"MOTIA_GRACE": "2.5"})
    assert (config.max_body, config.grace) == (2 * 1024 * 1024, 2.5)


@pytest.mark.parametrize(("flags", "env", "message"), [
    ({"events": "kafka"}, {}, r"--events 'kafka': expected one of memory, rabbitmq"),
    ({"role": "api"}, {}, r"--role 'api': expected one of all, gateway, workers, cron"),
    ({}, {"MOTIA_PORT": "http"}, r"MOTIA_PORT='http': expected an integer"),
    ({"port": "70000"}, {}, r"--port 70000: expected a port number from 0 to 65535"),
    ({"max_body": "lots"}, {}, r"--max-body='lots': expected a number of bytes"),
    ({"log_format": "xml"}, {}, r"--log-format 'xml': expected one of pretty, json, none"),
])
def test_bad_values_name_their_source(flags: dict, env: dict, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        RunConfig.resolve(flags, env=env)


@pytest.mark.parametrize(("role", "http", "consumes", "cron"), [
    ("all", True, True, True), ("gateway", True, False, False),
    ("workers", False, True, False), ("cron", False, False, True),
])
def test_roles_choose_the_parts(role: str, http: bool, consumes: bool, cron: bool) -> None:
    config = RunConfig(role=role)
    assert (config.serves_http, config.consumes, config.schedules) == (http, consumes, cron)
