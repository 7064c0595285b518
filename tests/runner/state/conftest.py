"""One fixture, every store: `backend` yields each state store kind in turn.

memory and sqlite always run; redis and postgres use the real services on loopback
(skipped when absent, a failure under MOTIA_REQUIRE_SERVICES=1). See _state_backends.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from _state_backends import BACKENDS, SERVICES, Backend

from motia.runner.state.base import StateStore


@pytest.fixture(params=BACKENDS)
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    kind: str = request.param
    if kind in ("redis", "postgres"):
        SERVICES.require_service(kind)
    backend = Backend(kind, tmp_path)
    try:
        yield backend
    finally:
        await backend.cleanup()


@pytest.fixture
async def store(backend: Backend) -> StateStore:
    """An opened store of each kind in turn, in a namespace of its own."""
    return await backend.open()
