"""`motia compile` and `motia init` through motia.cli.main: exit codes, output, files."""

from __future__ import annotations

import io
import json
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from projects import VALID, write_project

from motia._summary import print_summary
from motia.cli import main
from motia.compiler import compile_project


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return write_project(tmp_path, VALID)


def test_compile_prints_a_summary_and_writes_the_plan(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["compile"]) == 0
    out = capsys.readouterr().out
    assert "motia.yaml: app 'shop', 2 steps, 1 topic, 1 flow" in out
    assert "create-order  api    POST /orders  steps/create.py" in out
    assert "ship          event  order.placed  steps/ship.js" in out
    assert "order.placed  Order   ship" in out
    assert "checkout  create-order, ship" in out
    assert out.rstrip().endswith("ok: motia.yaml is valid")
    assert (project.parent / ".motia" / "plan.json").is_file()


def test_compile_writes_every_export_asked_for(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["compile", "--mermaid", "out/flow.mmd", "--graph", "g.json",
            "--openapi", "api.yaml", "--asyncapi", "events.json", "--html", "flows.html"]
    assert main(args) == 0
    root = project.parent
    assert (root / "out/flow.mmd").read_text().startswith("flowchart LR")
    assert json.loads((root / "g.json").read_text())["nodes"]
    assert "/orders" in yaml.safe_load((root / "api.yaml").read_text())["paths"]
    assert json.loads((root / "events.json").read_text())
    assert "<html" in (root / "flows.html").read_text().lower()
    assert "wrote out/flow.mmd" in capsys.readouterr().out


def test_an_invalid_project_exits_1_with_every_error_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a project with two mistakes
    monkeypatch.chdir(tmp_path)
    write_project(tmp_path, VALID.replace("type: event", "type: evnt").replace(
        "body: Order", "body: Ordr"), handlers=())
    before = files_under(tmp_path)
    # When compiled with every output asked for
    code = main(["compile", "--stubs", "--mermaid", "f.mmd", "--graph", "g.json"])
    # Then both are reported, the exit status is 1, and no file was written
    err = capsys.readouterr().err
    assert code == 1
    assert "motia.yaml:18:11: unknown schema 'Ordr'\n  hint: did you mean 'Order'?" in err
    assert "motia.yaml:23:11: 'type' in step 'ship' must be one of" in err
    assert "motia: 2 error(s); nothing written" in err
    assert "Traceback" not in err
    assert files_under(tmp_path) == before


def test_stubs_are_written_for_missing_handlers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    write_project(tmp_path, VALID, handlers=["steps/create.py"])
    (tmp_path / "steps/create.py").write_text("# mine\nasync def handler(req, ctx): ...\n")
    assert main(["compile"]) == 1
    assert main(["compile", "--stubs"]) == 0
    assert "exports.handler = async (data, ctx) =>" in (tmp_path / "steps/ship.js").read_text()
    assert (tmp_path / "steps/create.py").read_text() == "# mine\nasync def handler(req, ctx): ...\n"
    assert "wrote steps/ship.js" in capsys.readouterr().out
    assert main(["compile"]) == 0


CRON_STEPS = """\
  every-ten-seconds:
    type: cron
    cron: "*/10 * * * * *"
    flows: [checkout]
    handler: steps/create.py
  paris-morning:
    type: cron
    cron: "0 9 * * *"
    timezone: Europe/Paris
    flows: [checkout]
    handler: steps/create.py
"""


def test_the_summary_shows_each_cron_step_next_three_fire_times_in_its_zone(
    project: Path
) -> None:
    # Given cron steps, one seconds-first, one in Paris the day before DST begins
    project.write_text(VALID + CRON_STEPS)
    compiled = compile_project("motia.yaml")
    out, err = io.StringIO(), io.StringIO()
    # When the summary is printed at 2024-03-30 06:59:55 UTC
    now = datetime(2024, 3, 30, 6, 59, 55, tzinfo=UTC).timestamp()
    print_summary(compiled, [], out, err, now=now)
    # Then each cron step has its next three fires, read seconds first, in its own zone
    lines = out.getvalue().splitlines()
    start = lines.index("CRON               NEXT FIRES")
    assert lines[start + 1:start + 4] == [
        "every-ten-seconds  2024-03-30 07:00:00 UTC, 2024-03-30 07:00:10 UTC, "
        "2024-03-30 07:00:20 UTC",
        "paris-morning      2024-03-30 09:00:00 CET, 2024-03-31 09:00:00 CEST, "
        "2024-04-01 09:00:00 CEST",
        "",
    ]
    assert "every-ten-seconds  cron   */10 * * * * *" in out.getvalue()


def test_compile_prints_the_fire_times_from_now(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project.write_text(VALID + CRON_STEPS)
    before = time.time()
    assert main(["compile"]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("every-ten-seconds  20"))
    first = datetime.strptime(row.split()[1] + " " + row.split()[2], "%Y-%m-%d %H:%M:%S")
    # the first fire is a multiple of ten seconds just after the compile started (the
    # next one, or the one after if the compile itself crossed a boundary)
    assert 0 < first.replace(tzinfo=UTC).timestamp() - before < 20
    assert first.second % 10 == 0


def test_warnings_go_to_stderr_and_exit_0(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project.write_text(VALID.replace("topics:\n", "topics:\n  lost: {}\n"))
    assert main(["compile"]) == 0
    captured = capsys.readouterr()
    assert "motia.yaml:10:3: warning: topic 'lost' has no subscribers" in captured.err
    assert "ok: motia.yaml is valid, 1 warning" in captured.out


def test_a_missing_file_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["compile", "nope.yaml"]) == 2
    assert "nope.yaml: no such file" in capsys.readouterr().err


def test_an_unknown_option_is_a_usage_error(project: Path) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["compile", "--mermaids", "x"])
    assert exit_info.value.code == 2


def test_init_creates_a_project_that_compiles(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["init", "my shop"]) == 0
    created = tmp_path / "my shop"
    assert {"motia.yaml", ".gitignore", "README.md", "schemas/greeting.json"} <= set(
        files_under(created))
    assert "app: my-shop" in (created / "motia.yaml").read_text()
    assert "created my shop: app 'my-shop', 5 steps" in capsys.readouterr().out
    assert main(["compile", "my shop", "--mermaid", "my shop/flows.mmd"]) == 0
    assert not capsys.readouterr().err  # no warnings


def test_init_names_the_app_safely(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["init", "2024"]) == 0
    assert 'app: "2024"' in (tmp_path / "2024/motia.yaml").read_text()
    assert main(["compile", "2024"]) == 0


def test_init_refuses_a_folder_that_is_not_empty(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("keep me")
    assert main(["init", "busy"]) == 2
    assert "busy is not empty; `motia init` only writes into a new or empty folder" in (
        capsys.readouterr().err)
    assert files_under(tmp_path / "busy") == ["notes.txt"]


def test_init_fills_an_empty_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty").mkdir()
    assert main(["init", "empty"]) == 0
    assert (tmp_path / "empty" / "motia.yaml").is_file()
