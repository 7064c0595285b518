"""create_store: `--state KIND` and `--state-url` to a store, backends imported lazily."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from motia.errors import UsageError
from motia.runner.state import create_store
from motia.runner.state.memory import MemoryStore
from motia.runner.state.postgres import PostgresStore
from motia.runner.state.redis import RedisStore
from motia.runner.state.sqlite import SQLiteStore


def test_each_kind_gives_its_backend_unopened_with_the_app_namespace(tmp_path: Path) -> None:
    stores = [create_store(kind, namespace="shop", root=tmp_path)
              for kind in ("memory", "sqlite", "redis", "postgres")]
    assert [type(s) for s in stores] == [MemoryStore, SQLiteStore, RedisStore, PostgresStore]
    assert {s.namespace for s in stores} == {"shop"}
    assert not (tmp_path / ".motia").exists()  # nothing opened yet


def test_services_default_to_loopback(tmp_path: Path) -> None:
    redis = create_store("redis", namespace="a")
    postgres = create_store("postgres", namespace="a")
    assert isinstance(redis, RedisStore) and redis.url == "redis://127.0.0.1:6379/0"
    assert isinstance(postgres, PostgresStore)
    assert postgres.url == "postgresql://127.0.0.1:5432/test"
    other = create_store("redis", namespace="a", url="rediss://cache:6380/2")
    assert isinstance(other, RedisStore) and other.url == "rediss://cache:6380/2"


@pytest.mark.parametrize(
    ("url", "expected"),
    [(None, ".motia/state.db"), ("data/app.db", "data/app.db"),
     ("sqlite:///rel/app.db", "rel/app.db")],
)
def test_sqlite_paths_resolve_against_the_project(tmp_path: Path, url: str | None,
                                                  expected: str) -> None:
    store = create_store("sqlite", namespace="a", url=url, root=tmp_path)
    assert isinstance(store, SQLiteStore) and store.path == tmp_path / expected


def test_absolute_sqlite_paths_are_kept(tmp_path: Path) -> None:
    for url in (str(tmp_path / "x.db"), f"sqlite:///{tmp_path / 'x.db'}"):
        store = create_store("sqlite", namespace="a", url=url, root=Path("/elsewhere"))
        assert isinstance(store, SQLiteStore) and store.path == tmp_path / "x.db"


@pytest.mark.parametrize("url", ["sqlite:/x.db", "sqlite://x.db", "sqlite:///"])
def test_a_malformed_sqlite_url_is_a_usage_error(url: str) -> None:
    with pytest.raises(UsageError, match=r"expected sqlite:///relative/path.db or "
                                         r"sqlite:////absolute/path.db \(or a plain file path\)"):
        create_store("sqlite", namespace="a", url=url)


def test_an_unknown_kind_names_the_valid_ones() -> None:
    with pytest.raises(UsageError, match=r"^--state 'redsi': unknown state store \(did you mean "
                                         r"'redis'\?\); expected one of memory, sqlite, redis, "
                                         r"postgres$"):
        create_store("redsi", namespace="a")
    with pytest.raises(UsageError, match=r"^--state 'etcd': unknown state store; expected one"):
        create_store("etcd", namespace="a")


def test_a_url_for_the_wrong_service_is_a_usage_error_without_its_password() -> None:
    with pytest.raises(UsageError, match=r"^--state-url 'postgresql://u:\*\*\*@db/x': a redis URL "
                                         r"starts with redis:// or rediss:// or unix://"):
        create_store("redis", namespace="a", url="postgresql://u:secret@db/x")
    with pytest.raises(UsageError, match=r"a postgres URL starts with postgresql:// or postgres://"):
        create_store("postgres", namespace="a", url="redis://127.0.0.1")


def test_redis_and_asyncpg_are_imported_only_when_chosen(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from motia.runner.state import create_store\n"
        f"create_store('sqlite', namespace='a', root={str(tmp_path)!r})\n"
        "create_store('memory', namespace='a')\n"
        "assert 'redis' not in sys.modules and 'asyncpg' not in sys.modules, 'eager import'\n"
        "create_store('redis', namespace='a')\n"
        "assert 'redis' in sys.modules and 'asyncpg' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
