"""A shared store survives its server dropping the connections (restart, idle timeout, kill)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import redis.asyncio as aioredis
from _state_backends import SERVICES, Backend


async def _kill_redis_clients(name: str) -> int:
    admin = aioredis.Redis.from_url(SERVICES.REDIS_URL, decode_responses=True)
    try:
        ids = [c["id"] for c in await admin.client_list() if c.get("name") == name]
        for client_id in ids:
            await admin.client_kill_filter(_id=client_id)
        return len(ids)
    finally:
        await admin.aclose()


async def _kill_postgres_backends(name: str) -> int:
    admin = await asyncpg.connect(SERVICES.POSTGRES_URL)
    try:
        killed = await admin.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
            name,
        )
        return len(killed)
    finally:
        await admin.close()


async def test_redis_replaces_connections_the_server_closed(tmp_path: Path) -> None:
    SERVICES.require_service("redis")
    backend = Backend("redis", tmp_path)
    try:
        # Given a store whose pooled connections the server closes while they sit idle
        store = await backend.open()
        await asyncio.gather(*(store.set("g", f"k{i}", i) for i in range(5)))
        assert await _kill_redis_clients(f"motia:{backend.namespace}") >= 1
        await asyncio.sleep(0.1)
        # Then the next calls reconnect instead of failing
        assert await store.get("g", "k1") == 1
        assert await store.incr("g", "n") == 1
    finally:
        await backend.cleanup()


async def test_postgres_replaces_connections_the_server_closed(tmp_path: Path) -> None:
    SERVICES.require_service("postgres")
    backend = Backend("postgres", tmp_path)
    try:
        store = await backend.open()
        await asyncio.gather(*(store.set("g", f"k{i}", i) for i in range(5)))
        assert await _kill_postgres_backends(f"motia:{backend.namespace}") >= 1
        await asyncio.sleep(0.1)
        assert await store.get("g", "k1") == 1
        assert await store.incr("g", "n") == 1
    finally:
        await backend.cleanup()
