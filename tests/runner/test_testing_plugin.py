"""The pytest plugin shipped with motia, as a user meets it: `motia init`, then `pytest`
in a subprocess. Plain pytest (no pytest-asyncio), pytest-asyncio's strict mode and its
auto mode all pass; the `motia.testing` docstring example runs as written; options come
from `motia_options`, `@pytest.mark.motia` and calling the fixture; a wrong one lists the
valid ones; the project is found from the test file, whatever the working directory."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import motia.testing
from motia.cli import main

ASYNC_TESTS = '''\
import pytest

from motia.testing import SyncTestApp, TestApp


@pytest.mark.asyncio
async def test_an_async_test_uses_test_app() -> None:
    async with TestApp() as app:
        res = await app.request("POST", "/greetings", json={"name": "Lin"})
        assert res.status == 202
        await app.wait_for_topic("greeting.sent")
        greeting = await app.state.get("greetings", res.json["id"])
        assert greeting["text"] == "Hello, Lin!"


@pytest.mark.asyncio
async def test_the_fixture_works_in_an_async_test(motia_app: SyncTestApp) -> None:
    assert motia_app.request("GET", "/greetings/nope").status == 404
'''

OPTION_TESTS = '''\
import pytest

from motia.testing import SyncTestApp


def test_motia_options_from_the_conftest(motia_app: SyncTestApp) -> None:
    assert {s.timeout for s in motia_app.app.steps if s.runs} == {3.0}


@pytest.mark.motia(retries=0)
def test_the_marker_adds_to_them(motia_app: SyncTestApp) -> None:
    steps = [s for s in motia_app.app.steps if s.runs]
    assert {(s.retries, s.timeout) for s in steps} == {(0, 3.0)}


def test_calling_the_fixture_sets_them(motia_app: SyncTestApp) -> None:
    app = motia_app(timeout="500ms")
    assert {s.timeout for s in app.app.steps if s.runs} == {0.5}
'''

CONFTEST = '''\
from typing import Any

import pytest


@pytest.fixture
def motia_options() -> dict[str, Any]:
    return {"timeout": "3s"}
'''

BAD_OPTION = '''\
import pytest


@pytest.mark.motia(retry=0)
def test_a_misspelt_option(motia_app) -> None:
    motia_app.request("GET", "/")
'''


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A `motia init` project plus test files for each configuration."""
    root = tmp_path_factory.mktemp("plugin")
    cwd = os.getcwd()
    os.chdir(root)
    try:
        assert main(["init", "hello"]) == 0
    finally:
        os.chdir(cwd)
    tests = root / "hello" / "tests"
    (tests / "test_docstring.py").write_text(docstring_example())
    (tests / "test_docs_examples.py").write_text(docs_examples())
    (tests / "test_async.py").write_text(ASYNC_TESTS)
    (tests / "options").mkdir()
    (tests / "options" / "conftest.py").write_text(CONFTEST)
    (tests / "options" / "test_options.py").write_text(OPTION_TESTS)
    (root / "bad").mkdir()
    (root / "bad" / "test_bad.py").write_text(BAD_OPTION)
    (root / "bad" / "motia.yaml").symlink_to(root / "hello" / "motia.yaml")
    return root


def docstring_example() -> str:
    """The example in motia.testing's docstring, exactly as written there."""
    doc = motia.testing.__doc__ or ""
    found = re.search(r"project's test:\n\n((?:    .*\n|\n)+)", doc)
    assert found, "the docstring lost its example"
    return textwrap.dedent(found.group(1)).strip() + "\n"


DOCS = Path(__file__).resolve().parents[2] / "docs" / "testing.md"
_SNIPPET = ("res = ", "result = ", "motia_app.", "greeting = ")


def docs_examples() -> str:
    """docs/testing.md's examples of the members (the python blocks that use `motia_app`
    on the init project), in order, as one test."""
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text("utf-8"), re.S)
    body = [b for b in blocks if b.startswith(_SNIPPET)]
    assert len(body) >= 5, "docs/testing.md lost its member examples"
    return ("from motia.testing import Emitted\n\n\ndef test_the_docs_examples(motia_app):\n"
            + textwrap.indent("\n".join(body), "    "))


def pytest_in(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "MOTIA_"))}
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
                           "-W", "ignore::DeprecationWarning", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def summary(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout.strip().splitlines()[-1] if result.stdout.strip() else result.stderr


def test_the_docstring_example_is_the_init_projects_first_test() -> None:
    example = docstring_example()
    assert example.startswith("def test_a_greeting_is_written(motia_app):\n")
    template = Path(motia.testing.__file__).parent / "project_template/tests/test_greetings.py"
    assert "def test_a_greeting_is_written(motia_app: SyncTestApp) -> None:" in (
        template.read_text())


def test_the_init_project_passes_under_plain_pytest_from_any_folder(
        project: Path, node: str) -> None:
    # plain pytest: no pytest-asyncio at all; run from the folder above the project
    result = pytest_in(project, "-p", "no:asyncio", "-q", "hello/tests/test_greetings.py",
                       "hello/tests/test_docstring.py", "hello/tests/test_docs_examples.py",
                       "hello/tests/options")
    assert re.match(r"9 passed in [\d.]+s", summary(result)), result.stdout + result.stderr


@pytest.mark.parametrize("mode", ["strict", "auto"])
def test_the_init_project_passes_under_pytest_asyncio(project: Path, node: str,
                                                     mode: str) -> None:
    result = pytest_in(project / "hello", "-q", "-o", f"asyncio_mode={mode}",
                       "-o", "asyncio_default_fixture_loop_scope=function")
    assert re.match(r"11 passed in [\d.]+s", summary(result)), result.stdout + result.stderr


def test_a_wrong_option_fails_the_test_with_the_valid_ones(project: Path) -> None:
    result = pytest_in(project / "bad", "-q", "-p", "no:asyncio")
    assert re.match(r"1 error in [\d.]+s", summary(result)), result.stdout
    from motia._testing_options import OPTIONS

    assert ("TypeError: SyncTestApp: unknown option 'retry' (did you mean 'retries'?); valid "
            f"options: {', '.join(OPTIONS)}\n") in result.stdout


def test_the_init_projects_tests_type_check_strictly(mypy: str, motia_for_mypy: Path,
                                                     project: Path) -> None:
    # --follow-imports=silent: motia is on MYPYPATH here, where mypy would report what it
    # finds inside motia itself; from site-packages (a user's install) it does not
    env = {**os.environ, "MYPYPATH": str(motia_for_mypy)}
    result = subprocess.run([mypy, "--strict", "--no-incremental", "--follow-imports=silent",
                             "tests/test_greetings.py",
                             "steps", "motia_types.py"], cwd=project / "hello", env=env,
                            capture_output=True, text=True, timeout=300)
    assert (result.returncode, result.stdout.strip()) == (
        0, "Success: no issues found in 5 source files")
