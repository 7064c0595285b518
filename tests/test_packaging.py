"""The install is what users get: folders map to motia.* names and ship their data files."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
ROOTS = {"motia": "motia", "compiler": "motia.compiler", "runner": "motia.runner", "schema": "motia.schema"}


def _declared_packages() -> set[str]:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    return set(config["tool"]["setuptools"]["packages"])


def _folder_packages() -> set[str]:
    found = set()
    for folder, name in ROOTS.items():
        for init in (REPO / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(REPO / folder)
            found.add(".".join([name, *rel.parts]) if rel.parts else name)
    return found


def test_every_package_folder_is_declared_in_pyproject() -> None:
    # Given the folders that hold an __init__.py, When compared with pyproject's list,
    # Then none is missing (a missing one would be absent from `pip install .`).
    assert _folder_packages() - _declared_packages() == set()


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(REPO)],
        check=True, capture_output=True, timeout=300,
    )
    (built,) = out.glob("motia-*.whl")
    return zipfile.ZipFile(built)


def test_wheel_maps_folders_to_motia_names(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    assert "motia/compiler/ir.py" in names
    assert "motia/runner/bus/base.py" in names
    assert not any(n.startswith(("compiler/", "runner/", "schema/")) for n in names)


def test_wheel_ships_data_files(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    assert "motia/schema/motia.schema.json" in names
    assert "motia/runner/workers/node_worker.js" in names
    assert "motia/runner/workers/PROTOCOL.md" in names


def test_wheel_ships_the_typing_files(wheel: zipfile.ZipFile) -> None:
    # mypy reads an installed package's types only when it carries py.typed (PEP 561);
    # `--types` reads the base declarations, `motia init` copies jsconfig.json
    names = set(wheel.namelist())
    assert {"motia/py.typed", "motia/compiler/templates/motia-types.base.d.ts",
            "motia/project_template/jsconfig.json"} <= names


def test_wheel_registers_the_pytest_plugin_and_ships_the_init_tests(
        wheel: zipfile.ZipFile) -> None:
    # pytest finds the `motia_app` fixture through the pytest11 entry point
    names = set(wheel.namelist())
    assert {"motia/pytest_plugin.py", "motia/project_template/tests/test_greetings.py"} <= names
    [entry_points] = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    text = wheel.read(entry_points).decode()
    assert "[pytest11]\nmotia = motia.pytest_plugin\n" in text
