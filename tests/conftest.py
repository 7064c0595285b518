"""Shared fixtures. Real services (RabbitMQ, Redis, PostgreSQL, Node.js) are used when
reachable; otherwise their tests skip with a one-line reason, or fail when
MOTIA_REQUIRE_SERVICES=1 (as .ci/run sets)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from motia.runner._loop import loop_factory, loop_name

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


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> dict[str, Any]:
    """The loop `motia run` uses (uvloop when installed; MOTIA_LOOP=asyncio|uvloop picks):
    the suite runs on the loop the product ships with."""
    return {loop_name(): loop_factory()}


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


class OwnRedis:
    """A redis-server of the test's own on a free port (so a test can stop it without
    touching the shared one), with an append-only file in `folder`: a restart keeps
    what was written up to a second before the stop, as a production Redis would."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "yes", "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while not _reachable(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"redis-server on port {self.port} did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        """SIGKILL: the outage starts now, connections are refused from here on."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.process = None


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    if shutil.which("redis-server") is None:
        if os.environ.get("MOTIA_REQUIRE_SERVICES") == "1":
            pytest.fail("redis-server not on PATH and MOTIA_REQUIRE_SERVICES=1", pytrace=False)
        pytest.skip("redis-server not on PATH")
    folder = tmp_path / "own-redis"
    folder.mkdir()
    server = OwnRedis(folder)
    server.start()
    try:
        yield server
    finally:
        server.stop()


# --- type checkers, for the tests of the public types and the generated ones -------------

#: npm packages some tests read, installed together (a lone `npm install --no-save X`
#: removes the other unsaved packages)
NPM_TEST_PACKAGES = ("@asyncapi/specs@6.11.1", "typescript@5")
_MAPPED = {"compiler": "compiler", "runner": "runner", "schema": "schema"}


def installed_layout(root: Path) -> Path:
    """The package laid out under `root` as pip installs it (a tree of symlinks): mypy
    cannot follow the editable install's folder -> motia.* mapping."""
    package = root / "motia"
    package.mkdir(parents=True)
    for entry in (REPO / "motia").iterdir():
        if entry.name != "__pycache__":
            (package / entry.name).symlink_to(entry)
    for name, folder in _MAPPED.items():
        (package / name).symlink_to(REPO / folder)
    return root


@pytest.fixture(scope="session")
def mypy() -> str:
    found = shutil.which("mypy", path=str(Path(sys.executable).parent)) or shutil.which("mypy")
    assert found, "mypy is in the test extra; reinstall with pip install -e '.[test]'"
    return found


@pytest.fixture(scope="session")
def motia_for_mypy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder to put on MYPYPATH so that mypy finds `motia` as users' installs have it."""
    return installed_layout(tmp_path_factory.mktemp("site"))


@pytest.fixture(scope="session")
def tsc() -> str:
    """TypeScript's compiler from the repository's node_modules, installed if missing."""
    require_service("node")
    path = REPO / "node_modules" / ".bin" / "tsc"
    if not path.exists() and shutil.which("npm"):
        subprocess.run(["npm", "install", "--no-save", "--no-audit", "--no-fund", "--silent",
                        *NPM_TEST_PACKAGES], cwd=REPO, capture_output=True, timeout=300)
    if not path.exists():
        reason = (f"TypeScript not found at {path}; run `npm install --no-save "
                  f"{' '.join(NPM_TEST_PACKAGES)}` in the repository")
        if os.environ.get("MOTIA_REQUIRE_SERVICES") == "1":
            pytest.fail(f"{reason} (MOTIA_REQUIRE_SERVICES=1)", pytrace=False)
        pytest.skip(reason)
    return str(path)
