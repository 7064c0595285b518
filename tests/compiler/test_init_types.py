"""A `motia init` project type-checks: `mypy --strict` on its Python handlers and
`tsc --checkJs` on its Node.js one pass, and each rejects a handler reading a field its
schema does not have, with the checker's own message."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from motia.cli import main


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
            capsys: pytest.CaptureFixture[str]) -> Path:
    monkeypatch.chdir(tmp_path)
    assert main(["init", "hello"]) == 0
    capsys.readouterr()
    return tmp_path / "hello"


def _mypy(mypy: str, site: Path, project: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MYPYPATH": str(site)}
    return subprocess.run([mypy, "--strict", "--no-incremental", "steps", "motia_types.py"],
                          cwd=project, env=env, capture_output=True, text=True, timeout=300)


def _tsc(tsc: str, project: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([tsc, "-p", "jsconfig.json"], cwd=project, capture_output=True,
                          text=True, timeout=300)


def test_init_writes_the_types_and_the_checker_configs(project: Path) -> None:
    files = {"motia_types.py", "motia-types.d.ts", "jsconfig.json", ".motia/motia.schema.json"}
    assert all((project / name).is_file() for name in files)
    assert "from motia_types import" in (project / "steps/request_greeting.py").read_text()
    assert "import('../motia-types.js').WriteGreetingHandler" in (
        project / "steps/write_greeting.js").read_text()


def test_mypy_strict_passes_on_the_new_project(mypy: str, motia_for_mypy: Path,
                                               project: Path) -> None:
    result = _mypy(mypy, motia_for_mypy, project)
    assert (result.returncode, result.stdout.strip()) == (
        0, "Success: no issues found in 4 source files")


def test_mypy_rejects_a_field_the_schema_lacks(mypy: str, motia_for_mypy: Path,
                                               project: Path) -> None:
    # Given the request handler reads `nmae`, which GreetingRequest does not have
    handler = project / "steps/request_greeting.py"
    handler.write_text(handler.read_text().replace('req.body["name"]', 'req.body["nmae"]'))
    # When mypy checks the project, Then it names the line, the schema and the key
    result = _mypy(mypy, motia_for_mypy, project)
    assert result.returncode == 1
    assert result.stdout.splitlines()[0] == (
        'steps/request_greeting.py:14: error: TypedDict "GreetingRequest" has no key "nmae"  '
        "[typeddict-item]")


def test_mypy_rejects_an_emit_with_the_wrong_data(mypy: str, motia_for_mypy: Path,
                                                  project: Path) -> None:
    handler = project / "steps/count_greetings.py"
    handler.write_text(handler.read_text().replace('{"count": count}', '{"total": count}'))
    result = _mypy(mypy, motia_for_mypy, project)
    assert result.returncode == 1
    assert 'Missing key "count" for TypedDict "GreetingCount"' in result.stdout


def test_tsc_check_js_passes_on_the_new_project(tsc: str, project: Path) -> None:
    result = _tsc(tsc, project)
    assert (result.returncode, result.stdout) == (0, "")


def test_tsc_rejects_a_field_the_schema_lacks(tsc: str, project: Path) -> None:
    # Given the Node.js handler reads `greeting.nmae`, which Greeting does not have
    handler = project / "steps/write_greeting.js"
    handler.write_text(handler.read_text().replace("greeting.name}", "greeting.nmae}"))
    # When tsc checks the project, Then it names the file, the place and the type
    result = _tsc(tsc, project)
    assert result.returncode == 2
    assert result.stdout.strip() == (
        "steps/write_greeting.js(5,59): error TS2339: Property 'nmae' does not exist on "
        "type 'Greeting'.")


def test_tsc_rejects_an_emit_of_a_topic_the_step_does_not_declare(tsc: str,
                                                                   project: Path) -> None:
    handler = project / "steps/write_greeting.js"
    handler.write_text(handler.read_text().replace("topic: 'greeting.sent'",
                                                   "topic: 'greeting.requested'"))
    result = _tsc(tsc, project)
    assert result.returncode == 2
    assert "error TS2322: Type '\"greeting.requested\"' is not assignable to type " \
           "'\"greeting.sent\"'." in result.stdout
