"""Opening and closing stores: unreachable services fail fast with the URL and the fix."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from motia.errors import AdapterUnavailable, StateError
from motia.runner.state import create_store

FIX = r"; start {service} or pass --state-url / MOTIA_STATE_URL$"


@pytest.mark.parametrize(
    ("kind", "url", "service"),
    [("redis", "redis://127.0.0.1:1/0", "Redis"),
     ("postgres", "postgresql://127.0.0.1:1/test", "PostgreSQL")],
)
async def test_an_unreachable_service_raises_adapter_unavailable(
    kind: str, url: str, service: str
) -> None:
    # Given nothing listens on port 1
    store = create_store(kind, namespace="app", url=url)
    # When the store opens, Then it fails within seconds, naming the URL and the fix
    with pytest.raises(
        AdapterUnavailable,
        match=rf"^{service} state store at {url} is unreachable \(.+\)" + FIX.format(service=service),
    ):
        await asyncio.wait_for(store.open(), timeout=10)
    await store.close()  # nothing to release, and no error


@pytest.mark.parametrize(
    ("kind", "url"),
    [("redis", "redis://user:hunter2@127.0.0.1:1/0"),
     ("postgres", "postgresql://user:hunter2@127.0.0.1:1/test")],
)
async def test_the_message_never_shows_the_password(kind: str, url: str) -> None:
    store = create_store(kind, namespace="app", url=url)
    with pytest.raises(AdapterUnavailable, match=r"at \w+://user:\*\*\*@127\.0\.0\.1:1/") as info:
        await store.open()
    assert "hunter2" not in str(info.value)


async def test_a_sqlite_file_that_cannot_be_created_raises_adapter_unavailable(
    tmp_path: Path,
) -> None:
    # Given a path whose "folder" is a regular file
    (tmp_path / "blocker").write_text("")
    store = create_store("sqlite", namespace="app", url=str(tmp_path / "blocker" / "state.db"))
    with pytest.raises(AdapterUnavailable, match=r"^SQLite state store at .*blocker/state\.db: .*; "
                                                 r"check that the file and its folder are writable"):
        await store.open()
    await store.close()


@pytest.mark.parametrize("kind", ["sqlite", "redis", "postgres"])
async def test_using_a_store_before_open_is_a_clear_error(kind: str, tmp_path: Path) -> None:
    store = create_store(kind, namespace="app", root=tmp_path)
    with pytest.raises(StateError, match=rf"^the {kind} state store at .* is not open; call open"):
        await store.get("g", "k")


async def test_open_and_close_are_idempotent(tmp_path: Path) -> None:
    store = create_store("sqlite", namespace="app", root=tmp_path)
    await store.open()
    await store.open()
    await store.set("g", "k", 1)
    await store.close()
    await store.close()
    assert (tmp_path / ".motia" / "state.db").exists()
