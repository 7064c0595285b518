"""`motia run` as a real subprocess, and `motia emit|state|dlq` talking to it."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from _runtime_projects import FIXABLE_FILES, FIXABLE_YAML, write_project

from motia import _cmd_admin
from motia.cli import main


class Served:
    def __init__(self, proc: subprocess.Popen[str], url: str, banner: list[str]) -> None:
        self.proc, self.url, self.banner = proc, url, banner


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    source = write_project(tmp_path / "jobs", FIXABLE_YAML, FIXABLE_FILES)
    env = {**os.environ, "MOTIA_LOG_FORMAT": "json"}
    env.pop("MOTIA_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "motia", "run", str(source.parent), "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    banner: list[str] = []
    url = ""
    try:
        while not banner or banner[-1] != "Press Ctrl+C to stop.":
            line = proc.stdout.readline()  # type: ignore[union-attr]
            if not line:
                raise AssertionError(f"motia run exited: {proc.wait()} {proc.stderr.read()}")  # type: ignore[union-attr]
            banner.append(line.rstrip("\n"))
            found = re.match(r"Listening on (http://\S+)", line)
            url = found.group(1) if found else url
        yield Served(proc, url, banner)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()  # type: ignore[union-attr]
        proc.stderr.close()  # type: ignore[union-attr]


def motia(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def wait_for(check: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_run_serves_until_sigterm_and_the_admin_commands_talk_to_it(
    served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    url = served.url
    # The banner names every endpoint, the event steps and where the Workbench is
    text = "\n".join(served.banner)
    assert "motia: app 'fixable' (2 steps) - events: memory, state: sqlite, role: all" in text
    assert re.search(rf"POST +{re.escape(url)}/jobs +create-job \(python\)", text)
    assert "event   job.created -> run-job" in text
    assert f"Workbench: {url}/__motia/   admin API: {url}/__motia/api/" in text

    # A request is served
    request = urllib.request.Request(f"{url}/jobs", data=json.dumps({"id": "cli"}).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=10) as res:
        assert (res.status, json.loads(res.read())) == (202, {"queued": "cli"})

    # The failing job ends as a dead letter, listed by `motia dlq ls`
    wait_for(lambda: "run-job" in motia(capsys, "dlq", "ls", "--url", url)[1])
    code, out, _ = motia(capsys, "dlq", "ls", "--url", url, "--json")
    [letter] = json.loads(out)
    assert (code, letter["error"]["message"]) == (0, "job cli cannot run yet")

    # The admin API's root, which the banner names, lists its endpoints and the app's
    with urllib.request.urlopen(f"{url}/__motia/api/", timeout=10) as res:
        index = json.loads(res.read())
    assert index["endpoints"] == [{"method": "POST", "path": "/jobs", "step": "create-job",
                                   "language": "python"}]
    assert {"method": "GET", "path": "/__motia/api/state/{group}/{key}"} in index["admin"]

    # `motia state get` of a missing key says so and exits 1
    assert motia(capsys, "state", "get", "attempts", "nope", "--url", url) == (
        1, "", "motia state get: no key 'nope' in group 'attempts' (list the group's keys "
               "with `motia state ls attempts`)\n")

    # `motia state` reads and writes, `motia dlq replay` sends it back: it now succeeds
    assert motia(capsys, "state", "get", "attempts", "cli", "--url", url)[:2] == (0, "2\n")
    assert motia(capsys, "state", "set", "config", "fixed", "true", "--url", url)[:2] == (
        0, "true\n")
    assert motia(capsys, "state", "ls", "--url", url)[1] == "attempts\nconfig\n"
    assert motia(capsys, "dlq", "replay", letter["id"], "--url", url)[1].startswith(
        f"replayed {letter['id']}: event {letter['event_id']}")
    wait_for(lambda: motia(capsys, "state", "get", "done", "cli", "--url", url)[0] == 0)
    assert motia(capsys, "dlq", "ls", "--url", url)[1] == "no dead letters\n"

    # `motia emit` publishes straight onto the bus
    code, out, _ = motia(capsys, "emit", "job.created", '{"id": "e1"}', "--url", url)
    assert code == 0 and out.startswith("published job.created: event ")
    wait_for(lambda: motia(capsys, "state", "get", "done", "e1", "--url", url)[0] == 0)
    code, _, err = motia(capsys, "emit", "job.created", '{"id": 1}', "--url", url)
    assert code == 1
    assert err == ("motia: error: data for topic 'job.created' does not match its schema: "
                   "1 violation(s)\n  /id: 1 is not of type 'string'\n")

    # SIGTERM: drain and exit 0
    served.proc.send_signal(signal.SIGTERM)
    assert served.proc.wait(timeout=20) == 0
    logs = [json.loads(line) for line in served.proc.stderr.read().splitlines()  # type: ignore[union-attr]
            if line.startswith("{")]
    assert any(r["msg"].startswith("stopping: draining in-flight work") for r in logs)
    assert logs[-1]["msg"] == "stopped"

    # Nothing listens any more: a clear error
    code, _, err = motia(capsys, "state", "ls", "--url", url)
    assert code == 1
    assert err.startswith(f"motia: error: no Motia app at {url} (")
    assert err.endswith("start it with `motia run`, or point --url / MOTIA_URL at it\n")


def test_state_ls_pages_through_a_group_in_key_order(
    served: Served, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a group written out of key order
    for key in ("u:3", "u:1", "admin", "u:2"):
        assert motia(capsys, "state", "set", "users", key, f'{{"id": "{key}"}}',
                     "--url", served.url)[0] == 0
    # When `motia state ls GROUP` reads it two keys per request
    monkeypatch.setattr(_cmd_admin, "PAGE", 2)
    code, out, _ = motia(capsys, "state", "ls", "users", "--prefix", "u:", "--url", served.url)
    # Then it prints the matching keys in order, as one JSON object
    assert (code, json.loads(out)) == (0, {k: {"id": k} for k in ("u:1", "u:2", "u:3")})
    assert list(json.loads(out)) == ["u:1", "u:2", "u:3"]
    assert out == json.dumps(json.loads(out), indent=2) + "\n"
    assert list(json.loads(motia(capsys, "state", "ls", "users", "--url", served.url)[1])) == [
        "admin", "u:1", "u:2", "u:3"]
    assert motia(capsys, "state", "ls", "empty", "--url", served.url)[1] == "{}\n"
    # And --prefix without a group is a usage error
    code, _, err = motia(capsys, "state", "ls", "--prefix", "u:", "--url", served.url)
    assert (code, err) == (2, "motia: error: motia state ls: --prefix needs a GROUP (the keys "
                              "of which group?)\n")


def test_a_bad_json_argument_exits_2_with_the_fix(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = motia(capsys, "emit", "job.created", "{id: 1}")
    assert code == 2
    assert err.startswith("motia: error: JSON argument '{id: 1}' is not valid JSON (")
    assert "quote it for the shell" in err


@pytest.mark.parametrize(("argv", "message"), [
    (["state", "set", "g", "k", "NaN"],
     "JSON argument 'NaN' is not valid JSON (NaN is not a JSON number (JSON has no NaN or "
     "Infinity); send a number, a string or null)"),
    (["emit", "t", "[" * 101 + "]" * 101],
     f"JSON argument '{'[' * 101 + ']' * 101}' is not valid JSON (it nests arrays and objects "
     "more than 100 levels deep; flatten the document)"),
    (["emit", "t", '"\\ud800"'],
     "JSON argument '\"\\\\ud800\"' is not valid JSON (the string at / holds a lone surrogate "
     "(\\ud800), which is not a character; send the text as UTF-8 or as a complete surrogate "
     "pair)"),
    # bytes that are not UTF-8 reach argv as lone surrogates (surrogateescape)
    (["state", "set", "g", "\udcff", "1"],
     "argument b'\\xff' is not UTF-8 text; check the terminal's encoding (LANG / LC_ALL)"),
    (["state", "get", "g\udcfe", "k"],
     "argument b'g\\xfe' is not UTF-8 text; check the terminal's encoding (LANG / LC_ALL)"),
])
def test_hostile_cli_input_exits_2_before_any_request(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, _, err = motia(capsys, *argv, "--url", "http://127.0.0.1:9")  # nothing listens there
    assert (code, err.splitlines()[0]) == (2, f"motia: error: {message}")


def test_run_without_a_project_says_how_to_make_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = motia(capsys, "run", str(tmp_path))
    assert code == 2
    assert err == (f"motia: error: no motia.yaml in {tmp_path}; pass the project's folder or "
                   "its motia.yaml, or create a project with `motia init DIR`\n")


def test_run_refuses_a_public_bind_without_a_token(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MOTIA_WORKBENCH_TOKEN", raising=False)
    source = write_project(tmp_path, FIXABLE_YAML, FIXABLE_FILES)
    code, _, err = motia(capsys, "run", str(source), "--host", "0.0.0.0", "--state", "memory")
    assert code == 2
    assert err == ("motia: error: --host 0.0.0.0 exposes the Workbench and admin API beyond "
                   "this machine; set MOTIA_WORKBENCH_TOKEN to a secret to require it, or bind "
                   "127.0.0.1\n")
