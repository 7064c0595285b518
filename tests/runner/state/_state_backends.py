"""The backends the state contract suite runs against, and their cleanup.

memory and sqlite always run; redis and postgres use the real services on loopback
(skipped when absent, a failure under MOTIA_REQUIRE_SERVICES=1). Every test gets its
own namespace, and the rows and keys it wrote are removed afterwards, so tests never
see each other's data in the shared services.
"""

from __future__ import annotations

import importlib.util
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import asyncpg
import redis.asyncio as aioredis

from motia.runner.state import create_store
from motia.runner.state.base import StateStore

BACKENDS = ["memory", "sqlite", "redis", "postgres"]
#: backends whose instances share data (across processes, connections or machines)
SHARED = {"sqlite", "redis", "postgres"}


def root_conftest() -> ModuleType:
    """tests/conftest.py (require_service, service URLs); `tests` is not on sys.path."""
    module = sys.modules.get("tests.conftest")
    if module is None:
        path = Path(__file__).resolve().parents[2] / "conftest.py"
        spec = importlib.util.spec_from_file_location("tests.conftest", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["tests.conftest"] = module
        spec.loader.exec_module(module)
    return module


SERVICES = root_conftest()
URLS: dict[str, str | None] = {
    "redis": SERVICES.REDIS_URL,
    "postgres": SERVICES.POSTGRES_URL,
}


@dataclass
class Backend:
    """Opens stores of one kind on one data set; closes and cleans up after the test."""

    kind: str
    root: Path
    namespace: str = field(default_factory=lambda: f"t{uuid.uuid4().hex[:12]}")
    opened: list[StateStore] = field(default_factory=list)
    namespaces: set[str] = field(default_factory=set)

    @property
    def shared(self) -> bool:
        return self.kind in SHARED

    def create(self, namespace: str | None = None) -> StateStore:
        """A new, unopened store; for shared kinds it sees the same data as the others."""
        namespace = namespace or self.namespace
        self.namespaces.add(namespace)
        return create_store(self.kind, namespace=namespace, url=URLS.get(self.kind), root=self.root)

    async def open(self, namespace: str | None = None) -> StateStore:
        store = self.create(namespace)
        await store.open()
        self.opened.append(store)
        return store

    async def cleanup(self) -> None:
        for store in self.opened:
            await store.close()
        if self.kind == "redis":
            await _purge_redis(self.namespaces)
        elif self.kind == "postgres":
            await _purge_postgres(self.namespaces)


async def _purge_redis(namespaces: set[str]) -> None:
    client = aioredis.Redis.from_url(SERVICES.REDIS_URL)
    try:
        for namespace in namespaces:
            keys = [k async for k in client.scan_iter(match=f"motia:{{{namespace}}}:*")]
            if keys:
                await client.delete(*keys)
    finally:
        await client.aclose()


async def _purge_postgres(namespaces: set[str]) -> None:
    conn = await asyncpg.connect(SERVICES.POSTGRES_URL)
    try:
        await conn.execute(
            "DELETE FROM motia_state WHERE namespace = ANY($1::text[])", sorted(namespaces)
        )
    finally:
        await conn.close()
