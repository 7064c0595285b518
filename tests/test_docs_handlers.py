"""docs/handlers.md: every public name of `motia` and each of its members is in it, its
snippets parse, and its complete example runs as written (files, curl calls, answers)."""

from __future__ import annotations

import ast
import json
import re
import shlex
import subprocess
from pathlib import Path

import motia
from motia.testing import TestApp

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "handlers.md"
_FILE = re.compile(r"<!-- file: (\S+) -->\n```\w*\n(.*?)```", re.DOTALL)
_BLOCK = re.compile(r"```(\w*)\n(.*?)```", re.DOTALL)
_SHELL = re.compile(r"```sh\n(.*?)```", re.DOTALL)


def _code(text: str) -> str:
    """Every inline code span and fenced block: where a member must be named."""
    spans = re.findall(r"`([^`\n]+)`", _BLOCK.sub("", text))
    return "\n".join(spans + [body for _, body in _BLOCK.findall(text)])


def _members(value: object) -> list[str]:
    names = getattr(value, "__annotations__", {})
    own = [n for n, v in vars(value).items() if not n.startswith("_")
           and callable(getattr(v, "fget", v))] if isinstance(value, type) else []
    slots = [n for n in getattr(value, "__slots__", ()) if not n.startswith("_")]
    return sorted({*(n for n in names if not n.startswith("_")), *own, *slots})


def test_every_public_name_and_member_is_in_the_handlers_doc() -> None:
    # Given the doc's code, When each public name and member is looked up in it
    code = _code(DOC.read_text("utf-8"))
    missing = [name for name in motia.__all__ if not re.search(rf"\b{name}\b", code)]
    for name in motia.__all__:
        value = getattr(motia, name)
        if isinstance(value, type):
            missing += [f"{name}.{m}" for m in _members(value)
                        if not re.search(rf"\b{m}\b", code)]
    # Then none is missing
    assert missing == []


def test_the_snippets_parse(node: str, tmp_path: Path) -> None:
    for language, body in _BLOCK.findall(DOC.read_text("utf-8")):
        if language == "python":
            ast.parse(body)
        elif language == "js":
            script = tmp_path / "snippet.js"
            script.write_text(f"(async () => {{\n{body}\n}});\n" if "await" in body
                              and "exports." not in body else body)
            result = subprocess.run([node, "--check", str(script)], capture_output=True,
                                    text=True, timeout=60)
            assert result.returncode == 0, (body, result.stderr)


def _calls(text: str) -> list[tuple[str, str, dict[str, str], object, object]]:
    lines = _SHELL.findall(text)[-1].strip().splitlines()
    calls = []
    for command, answer in zip(lines[::2], lines[1::2], strict=True):
        args = shlex.split(command)
        method = args[args.index("-X") + 1] if "-X" in args else "GET"
        body = json.loads(args[args.index("-d") + 1]) if "-d" in args else None
        headers = dict(a.split(": ", 1) for i, a in enumerate(args) if i and args[i - 1] == "-H")
        path = next(a for a in args if a.startswith("localhost:3000")).removeprefix("localhost:3000")
        calls.append((method, path, headers, body, json.loads(answer.removeprefix("# "))))
    return calls


async def test_the_complete_example_runs_as_written(tmp_path: Path, node: str) -> None:
    # Given the example's files, written as the manual shows them
    text = DOC.read_text("utf-8")
    files = dict(_FILE.findall(text))
    assert sorted(files) == ["motia.yaml", "steps/auth.py", "steps/count_notes.py",
                             "steps/get_note.js", "steps/save_note.py"]
    for rel, source in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(source)
    # When the manual's curl calls are sent, Then each answer is the one it shows
    calls = _calls(text)
    assert len(calls) == 3
    async with TestApp(tmp_path) as app:
        for method, path, headers, body, expected in calls:
            raw = None if body is None else json.dumps(body)
            res = await app.request(method, path, data=raw, headers=headers)
            assert res.json == expected, (method, path, res.text)
            if method == "PUT":
                assert res.headers["x-auth"] == "checked"
                await app.wait_for_topic("note.saved")


def test_the_readme_links_the_manual_and_only_files_that_exist() -> None:
    # Given the README's relative links
    text = (REPO / "README.md").read_text("utf-8")
    links = {link.split("#")[0] for link in re.findall(r"\]\(([^)\s]+)\)", text)
             if "://" not in link and not link.startswith("#")}
    # Then each names a file or folder of the repository, and the first screen links the manual
    assert sorted(link for link in links if not (REPO / link).exists()) == []
    first_screen = "\n".join(text.splitlines()[:30])
    for page in ("docs/handlers.md", "docs/testing.md", "docs/motia-yaml.md",
                 "docs/production.md"):
        assert f"({page})" in first_screen, page
