"""Shared fixtures. Real services (RabbitMQ, Redis, PostgreSQL, Node.js) are used when
reachable; otherwise their tests skip with a one-line reason, or fail when
MOTIA_REQUIRE_SERVICES=1 (as .ci/run sets)."""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
AMQP_URL = os.environ.get("MOTIA_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
REDIS_URL = os.environ.get("MOTIA_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
POSTGRES_URL = os.environ.get("MOTIA_TEST_POSTGRES_URL", "postgresql://127.0.0.1:5432/test")

_PORTS = {"rabbitmq": 5672, "redis": 6379, "postgres": 5432}


def _reachable(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def require_service(name: str) -> None:
    """Skip (or fail under MOTIA_REQUIRE_SERVICES=1) when `name` is not available."""
    if name == "node":
        ok = bool(os.environ.get("MOTIA_NODE") or shutil.which("node"))
        reason = "Node.js not found on PATH (set MOTIA_NODE)"
    else:
        ok = _reachable(_PORTS[name])
        reason = f"{name} not reachable on 127.0.0.1:{_PORTS[name]}"
    if ok:
        return
    if os.environ.get("MOTIA_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} and MOTIA_REQUIRE_SERVICES=1", pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def node() -> str:
    require_service("node")
    return os.environ.get("MOTIA_NODE") or shutil.which("node") or "node"


@pytest.fixture
def postgres() -> str:
    """The test PostgreSQL URL (the test skips, or fails under MOTIA_REQUIRE_SERVICES=1,
    without the service)."""
    require_service("postgres")
    return POSTGRES_URL


@pytest.fixture
def repo() -> Path:
    return REPO
