"""State stores: one interface (base.StateStore), one module per backend.

`create_store` maps `--state KIND` (and `--state-url` / MOTIA_STATE_URL) to a store,
importing the backend only when chosen, so `redis` and `asyncpg` are not loaded by an
app that keeps its state in memory or SQLite.
"""

from __future__ import annotations

import difflib
from pathlib import Path

from motia.compiler.ir import STATE_ADAPTERS
from motia.errors import UsageError
from motia.runner._redact import redact
from motia.runner.state.base import StateStore

KINDS = STATE_ADAPTERS
#: where the SQLite store lives inside a project when no URL is given
SQLITE_PATH = Path(".motia") / "state.db"

_SCHEMES = {
    "redis": ("redis://", "rediss://", "unix://"),
    "postgres": ("postgresql://", "postgres://"),
}
_EXAMPLES = {"redis": "redis://127.0.0.1:6379/0", "postgres": "postgresql://127.0.0.1:5432/test"}


def create_store(
    kind: str, *, namespace: str, url: str | None = None, root: Path | None = None
) -> StateStore:
    """A store of `kind` for the app `namespace`, not yet opened.

    `url` is ignored by `memory`; for `sqlite` it is a file path or `sqlite:///path`
    (relative paths resolve against `root`), defaulting to `root/.motia/state.db`; for
    `redis` and `postgres` it defaults to the loopback service of SPEC section 6.
    """
    if kind == "memory":
        from motia.runner.state.memory import MemoryStore

        return MemoryStore(namespace)
    if kind == "sqlite":
        from motia.runner.state.sqlite import SQLiteStore

        return SQLiteStore(namespace, sqlite_path(url, root))
    if kind == "redis":
        from motia.runner.state.redis import DEFAULT_URL, RedisStore

        return RedisStore(namespace, _checked_url(kind, url or DEFAULT_URL))
    if kind == "postgres":
        from motia.runner.state.postgres import DEFAULT_URL as PG_URL
        from motia.runner.state.postgres import PostgresStore

        return PostgresStore(namespace, _checked_url(kind, url or PG_URL))
    close = difflib.get_close_matches(kind, KINDS, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise UsageError(
        f"--state {kind!r}: unknown state store{hint}; expected one of {', '.join(KINDS)}"
    )


def sqlite_path(url: str | None, root: Path | None = None) -> Path:
    """The database file for `--state sqlite`, from a path, a sqlite: URL or the default.

    URLs follow SQLAlchemy's convention: `sqlite:///rel/state.db` is relative,
    `sqlite:////abs/state.db` absolute.
    """
    base = root if root is not None else Path.cwd()
    if not url:
        return base / SQLITE_PATH
    if url.startswith("sqlite:"):
        if not url.startswith("sqlite:///") or url == "sqlite:///":
            raise UsageError(
                f"--state-url {url!r}: expected sqlite:///relative/path.db or "
                "sqlite:////absolute/path.db (or a plain file path)"
            )
        url = url.removeprefix("sqlite:///")
    path = Path(url).expanduser()
    return path if path.is_absolute() else base / path


def _checked_url(kind: str, url: str) -> str:
    schemes = _SCHEMES[kind]
    if not url.startswith(schemes):
        raise UsageError(
            f"--state-url {redact(url)!r}: a {kind} URL starts with {' or '.join(schemes)}; "
            f"e.g. {_EXAMPLES[kind]}"
        )
    return url
