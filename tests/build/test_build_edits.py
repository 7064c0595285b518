"""A user's edits to deploy/ survive `motia build`: kept while the build has nothing new
for the file, refused (named, exit 1) when it would change it, overwritten with --force."""

from __future__ import annotations

import json
from pathlib import Path

from _projects import build, cli, example


def add_step_emitting_nothing(root: Path) -> None:
    """A change to motia.yaml that changes the gateway's files (one more API step)."""
    source = root / "motia.yaml"
    source.write_text(source.read_text().replace("  get-stats:\n", (
        "  ping:\n    type: api\n    method: GET\n    path: /ping\n    flows: [reporting]\n"
        "    handler: steps/get_order.py\n  get-stats:\n"), 1))


def test_an_unchanged_second_build_rewrites_nothing(tmp_path: Path) -> None:
    root = example(tmp_path / "shop", app="shop")
    deploy = build(root)
    manifest = json.loads((deploy / ".motia-build.json").read_text())
    # When motia build runs again with nothing changed
    code, out, _ = cli("build", str(root))
    # Then every tracked file is reported unchanged and nothing was written
    assert code == 0
    assert "  wrote " not in out
    assert out.count("  unchanged  ") == len(manifest["files"]) == 12


def test_an_edit_is_kept_while_the_build_has_nothing_new_for_it(tmp_path: Path) -> None:
    # Given a built project whose compose.yaml the user edited
    root = example(tmp_path / "shop", app="shop")
    compose = build(root) / "compose.yaml"
    edited = compose.read_text().replace("replicas: 2", "replicas: 5")
    compose.write_text(edited)
    # When motia build runs again
    code, out, _ = cli("build", str(root))
    # Then the edit is kept, and said so
    assert code == 0
    assert "  kept       compose.yaml (your edits; nothing new to write)\n" in out
    assert compose.read_text() == edited


def test_an_edited_file_the_build_would_change_is_refused_by_name(tmp_path: Path) -> None:
    # Given a user edit to the gateway's manifest and to compose.yaml
    root = example(tmp_path / "shop", app="shop")
    deploy = build(root)
    gateway, compose = deploy / "k8s" / "gateway.yaml", deploy / "compose.yaml"
    gateway.write_text(gateway.read_text() + "# my note\n")
    compose_before = compose.read_text()
    env_before = (deploy / ".env").read_text()
    # When motia.yaml gains an API step (which changes the gateway's files) and it rebuilds
    add_step_emitting_nothing(root)
    code, out, err = cli("build", str(root))
    # Then the build refuses that one file, naming it, and refreshes the unedited ones
    assert code == 1
    assert err == (
        "motia: error: refused to overwrite 1 file(s) you edited, which motia.yaml now "
        f"changes:\n  {deploy / 'k8s/gateway.yaml'}\n  hint: merge the change by hand, or "
        "run `motia build --force` to overwrite them (your edits would be lost); every "
        "other file was refreshed\n")
    assert gateway.read_text().endswith("# my note\n")
    assert compose.read_text() != compose_before  # unedited: refreshed with the new memory
    assert (deploy / ".env").read_text() == env_before  # secrets are never rewritten
    # And it keeps refusing until forced, which overwrites the edit
    assert cli("build", str(root))[0] == 1
    code, out, _ = cli("build", str(root), "--force")
    assert code == 0 and "  wrote      k8s/gateway.yaml\n" in out
    assert "# my note" not in gateway.read_text() and "ping" in gateway.read_text()


def test_a_file_the_build_did_not_write_is_not_overwritten(tmp_path: Path) -> None:
    # Given a deploy/Dockerfile of the user's own, before any build
    root = example(tmp_path / "shop", app="shop")
    (root / "deploy").mkdir()
    (root / "deploy" / "Dockerfile").write_text("FROM scratch\n")
    # When motia build runs, Then it refuses that file and writes the others
    code, _, err = cli("build", str(root))
    assert code == 1 and f"  {root / 'deploy' / 'Dockerfile'}\n" in err
    assert (root / "deploy" / "Dockerfile").read_text() == "FROM scratch\n"
    assert (root / "deploy" / "compose.yaml").is_file()


def test_files_no_longer_generated_are_removed_unless_edited(tmp_path: Path) -> None:
    # Given a build with a cron role, then motia.yaml without the cron step
    root = example(tmp_path / "shop", app="shop")
    deploy = build(root)
    source = root / "motia.yaml"
    text = source.read_text()
    start = text.index("  hourly-report:\n")
    source.write_text(text[:start] + text[text.index("  finance-review:\n"):])
    # When it rebuilds, Then the cron manifest goes, as the role did
    code, out, _ = cli("build", str(root))
    assert code == 0, out
    assert "  removed    k8s/cron.yaml (no longer generated)\n" in out
    assert not (deploy / "k8s" / "cron.yaml").exists()


def test_a_bad_image_or_project_is_a_one_line_error(tmp_path: Path) -> None:
    root = example(tmp_path / "shop", app="shop")
    assert cli("build", str(root), "--image", "Bad Image") == (2, "", (
        "motia: error: --image 'Bad Image': expected an image reference such as shop:1.0 "
        "or registry.example.com/team/shop:1.0\n"))
    (tmp_path / "empty").mkdir()
    code, out, err = cli("build", str(tmp_path / "empty"))
    assert (code, out) == (2, "")
    assert err == (f"motia: error: no motia.yaml in {tmp_path / 'empty'}; pass the "
                   "project's folder or its motia.yaml, or create a project with "
                   "`motia init DIR`\n")
    code, out, err = cli("build", str(tmp_path / "nowhere"))
    assert (code, out) == (2, "")
    assert err == (f"motia: error: {tmp_path / 'nowhere'}: no such file; run `motia init "
                   "DIR` to create a project, or pass the path to motia.yaml\n")
    assert not (tmp_path / "nowhere").exists()
