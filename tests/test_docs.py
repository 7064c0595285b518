"""The docs stay true: docs/motia-yaml.md lists every key the shipped JSON Schema accepts,
and docs/types.md shows the init project's handlers and examples that type-check."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from motia.compiler.validate import motia_schema

DOC = Path(__file__).resolve().parent.parent / "docs" / "motia-yaml.md"


def _keys(schema: dict[str, Any]) -> set[str]:
    """Every property name declared anywhere in the schema (top level and every $def)."""
    names: set[str] = set()
    for node in [schema, *schema["$defs"].values()]:
        names |= set(node.get("properties", {}))
    return names


def test_every_key_of_motia_yaml_is_in_the_reference() -> None:
    documented = set(re.findall(r"`([a-z_]+)`", DOC.read_text("utf-8")))
    missing = sorted(_keys(motia_schema()) - documented)
    assert missing == [], f"add these keys to docs/motia-yaml.md: {', '.join(missing)}"


TYPES_DOC = DOC.parent / "types.md"
TEMPLATE = Path(__file__).resolve().parent.parent / "motia" / "project_template"
_BLOCK = re.compile(r"```(python|js)\n(.*?)```", re.S)


def _blocks(language: str) -> list[str]:
    return [body for lang, body in _BLOCK.findall(TYPES_DOC.read_text("utf-8")) if lang == language]


def test_the_handlers_docs_types_md_shows_are_the_init_projects() -> None:
    shown = {}
    for block in _blocks("python") + _blocks("js"):
        first, _, rest = block.partition("\n")
        if first.startswith(("# steps/", "// steps/")):
            shown[first.split(" ", 1)[1]] = rest
    assert sorted(shown) == ["steps/request_greeting.py", "steps/write_greeting.js"]
    for name, text in shown.items():
        assert text == (TEMPLATE / name).read_text("utf-8"), f"docs/types.md shows an old {name}"


def test_the_python_examples_of_docs_types_md_pass_mypy_strict(
    mypy: str, motia_for_mypy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from motia.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["init", "hello"]) == 0
    project = tmp_path / "hello"
    for index, block in enumerate(_blocks("python")):
        (project / "steps" / f"doc_example_{index}.py").write_text(block)
    env = {**os.environ, "MYPYPATH": str(motia_for_mypy)}
    result = subprocess.run([mypy, "--strict", "--no-incremental", "steps", "motia_types.py"],
                            cwd=project, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout
