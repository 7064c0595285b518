"""`motia compile` and `motia init` through motia.cli.main: exit codes, output, files."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
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


# --- generated types and the editor's schema ---------------------------------------------


def test_types_writes_both_files_and_says_so(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["compile", "--types"]) == 0
    out = capsys.readouterr().out
    root = project.parent
    assert "wrote motia_types.py\nwrote motia-types.d.ts\n" in out
    assert (root / "motia_types.py").read_text().startswith("# motia_types.py: generated by")
    assert "export type CreateOrderRequest = ApiRequest<Order>;" in (
        root / "motia-types.d.ts").read_text()


def test_once_written_the_types_follow_every_compile(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given generated types
    assert main(["compile", "--types"]) == 0
    types = project.parent / "motia_types.py"
    assert "    id: str\n" in types.read_text()
    # When the schema gains a field and the project is compiled without --types
    project.write_text(VALID.replace("id: {type: string}", "id: {type: string}\n"
                                     "      total: {type: integer}"))
    capsys.readouterr()
    assert main(["compile"]) == 0
    # Then the types have it, and the summary lists the rewritten files
    assert "    total: NotRequired[int]\n" in types.read_text()
    assert "wrote motia_types.py\n" in capsys.readouterr().out


def test_an_unchanged_types_file_is_not_rewritten(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["compile", "--types"]) == 0
    types = project.parent / "motia_types.py"
    before = types.stat().st_mtime_ns
    capsys.readouterr()
    assert main(["compile", "--types"]) == 0
    assert types.stat().st_mtime_ns == before
    assert "motia_types.py" not in capsys.readouterr().out


def test_a_motia_types_file_of_the_user_is_never_replaced(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mine = project.parent / "motia_types.py"
    mine.write_text("ORDER_LIMIT = 3\n")
    assert main(["compile"]) == 0  # not ours, not asked: left alone
    assert main(["compile", "--types"]) == 1
    assert ("motia: error: motia_types.py exists and was not written by motia; rename or "
            "remove it, "
            "and `motia compile --types` will write the generated one") in capsys.readouterr().err
    assert mine.read_text() == "ORDER_LIMIT = 3\n"


def test_stubs_write_the_types_they_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    write_project(tmp_path, VALID, handlers=())
    assert main(["compile", "--stubs"]) == 0
    stub = (tmp_path / "steps/create.py").read_text()
    assert "from motia_types import CreateOrderContext, CreateOrderRequest, CreateOrderResult" in stub
    assert (tmp_path / "motia_types.py").is_file()
    assert "@param {import('../motia-types.js').ShipData} data" in (tmp_path / "steps/ship.js").read_text()


def test_init_points_its_schema_modeline_at_a_local_copy_of_the_shipped_schema(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from motia._generated import MODELINE, editor_schema

    monkeypatch.chdir(tmp_path)
    assert main(["init", "shop"]) == 0
    motia_yaml = tmp_path / "shop" / "motia.yaml"
    first = motia_yaml.read_text().splitlines()[0]
    # The modeline names a path, not a URL, resolved (as yaml-language-server does) next
    # to motia.yaml, where init wrote this package's schema
    assert first == MODELINE == "# yaml-language-server: $schema=.motia/motia.schema.json"
    target = motia_yaml.parent / first.split("$schema=", 1)[1]
    assert target.read_text() == editor_schema()


def _check_jsonschema(root: Path, document: str) -> subprocess.CompletedProcess[str]:
    """check-jsonschema with the schema the modeline names, and no network at all."""
    schema = (root / "motia.yaml").read_text().splitlines()[0].split("$schema=", 1)[1]
    offline = {**os.environ, "HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9"}
    tool = Path(sys.executable).parent / "check-jsonschema"
    return subprocess.run([str(tool), "--no-cache", "--schemafile", schema, document], cwd=root,
                          env=offline, capture_output=True, text=True, timeout=120)


def test_check_jsonschema_validates_the_new_project_offline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["init", "shop"]) == 0
    root = tmp_path / "shop"
    ok = _check_jsonschema(root, "motia.yaml")
    assert (ok.returncode, ok.stdout.strip()) == (0, "ok -- validation done")
    (root / "broken.yaml").write_text((root / "motia.yaml").read_text().replace(
        "  timeout: 10s", "  timeuot: 10s"))
    broken = _check_jsonschema(root, "broken.yaml")
    assert broken.returncode == 1
    assert "broken.yaml::$.defaults: Additional properties are not allowed ('timeuot' was " \
           "unexpected)" in broken.stdout


def test_compile_refreshes_the_editor_schema(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from motia._generated import editor_schema

    stale = project.parent / ".motia" / "motia.schema.json"
    stale.parent.mkdir(exist_ok=True)
    stale.write_text("{}")
    assert main(["compile"]) == 0
    assert stale.read_text() == editor_schema()
    assert "wrote .motia/motia.schema.json" in capsys.readouterr().out
