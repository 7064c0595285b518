"""Fixtures of the production tests: a `cluster` of real `motia run` replicas.

Every test here runs real processes against the real RabbitMQ, Redis and PostgreSQL on
loopback (skipped without them, failing under MOTIA_REQUIRE_SERVICES=1); nothing is mocked.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from conftest import require_service

from ._cluster import Cluster


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    """Replicas started through it are stopped (SIGTERM) and their app's queues, exchange
    and state deleted when the test ends, whatever its outcome."""
    for service in ("rabbitmq", "redis", "node"):
        require_service(service)
    made = Cluster(tmp_path)
    try:
        yield made
    finally:
        await made.close()
