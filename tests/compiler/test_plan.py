"""The compiled plan: a lossless JSON round trip, and a cache `motia run` can trust."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from projects import SPEC_EXAMPLE, SPEC_FILES, write_project

import motia.compiler
from motia.compiler import compile_project
from motia.compiler.plan import (
    load_app,
    load_compiled,
    plan_from_dict,
    plan_path,
    plan_to_dict,
)
from motia.errors import ProjectInvalid


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(tmp_path / "proj", SPEC_EXAMPLE, SPEC_FILES, handlers=())


def test_the_plan_round_trips_through_json(project: Path) -> None:
    app = compile_project(project).app
    data = json.loads(json.dumps(plan_to_dict(app)))
    assert plan_from_dict(data) == app


def test_a_damaged_plan_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="not a Motia plan"):
        plan_from_dict({"name": "x", "root": "/", "steps": [{"name": "a", "type": "teleport"}]})


def _count_compiles(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = motia.compiler.compile_project

    def counting(*args: object, **kwargs: bool) -> motia.compiler.Compiled:
        calls.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(motia.compiler, "compile_project", counting)
    return calls


def test_load_app_compiles_once_then_reads_the_plan(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _count_compiles(monkeypatch)
    # Given no plan yet, When the app is loaded twice
    first = load_app(project)
    second = load_app(project)
    # Then it was compiled once, the plan written, and both loads give the same App
    assert len(calls) == 1
    assert plan_path(project.parent).is_file()
    assert first == second == compile_project(project).app


def test_warnings_survive_the_plan_cache(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a project with warnings (the SPEC example has a step in no flow)
    fresh = load_compiled(project)
    assert fresh.warnings
    calls = _count_compiles(monkeypatch)
    # When it is loaded again from its plan (what `motia run` does on every start)
    cached = load_compiled(project)
    # Then nothing was compiled and the same warnings come back with the same App
    assert calls == []
    assert cached.warnings == fresh.warnings
    assert cached.app == fresh.app


@pytest.mark.parametrize(
    "change",
    [
        lambda p: p.write_text(p.read_text().replace("timeout: 10s", "timeout: 11s")),
        lambda p: (p.parent / "schemas/invoice.json").write_text('{"type": "object"}'),
        lambda p: (p.parent / "steps/cleanup.py").rename(p.parent / "steps/cleanup2.py"),
        lambda p: plan_path(p.parent).write_text("{not json"),
    ],
    ids=["motia.yaml edited", "ref file edited", "handler removed", "plan damaged"],
)
def test_a_changed_input_means_recompiling(
    project: Path, monkeypatch: pytest.MonkeyPatch, change: object
) -> None:
    load_app(project)
    calls = _count_compiles(monkeypatch)
    change(project)  # type: ignore[operator]
    try:
        load_app(project)
    except ProjectInvalid:
        pass  # a removed handler makes the project invalid: the error is what run shows
    assert len(calls) == 1


def test_a_removed_handler_is_an_error_not_a_stale_plan(project: Path) -> None:
    load_app(project)
    (project.parent / "steps/cleanup.py").unlink()
    with pytest.raises(ProjectInvalid, match="handler file 'steps/cleanup.py' not found"):
        load_app(project)


def test_a_moved_project_keeps_its_plan_with_the_new_root(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_app(project)
    moved = project.parent.rename(tmp_path / "moved")
    calls = _count_compiles(monkeypatch)
    monkeypatch.chdir(tmp_path)
    app = load_app("moved")
    assert calls == [] and app.root == str(moved) and app.source == "moved/motia.yaml"


def test_a_read_only_project_still_loads(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "mkdir", refuse)
    assert load_app(project).name == "billing"
    assert not plan_path(project.parent).exists()
