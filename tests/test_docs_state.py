"""docs/state.md's complete example runs as written: its files, its curl calls, its answers.

The files are the fenced blocks that follow `<!-- file: PATH -->`; the `sh` block's
`curl` lines are sent to the running app and each answer must equal the `# ...` line
under it, so the manual cannot drift from what the code does.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

from motia.testing import TestApp

DOC = Path(__file__).resolve().parent.parent / "docs" / "state.md"
_FILE = re.compile(r"<!-- file: (\S+) -->\n```\w*\n(.*?)```", re.DOTALL)
_SHELL = re.compile(r"```sh\n(.*?)```", re.DOTALL)


def _calls(text: str) -> list[tuple[str, str, object, object]]:
    """(method, path, body or None, expected answer) of each curl line of the last sh block."""
    lines = _SHELL.findall(text)[-1].strip().splitlines()
    calls = []
    for command, answer in zip(lines[::2], lines[1::2], strict=True):
        args = shlex.split(command)
        method = args[args.index("-X") + 1] if "-X" in args else "GET"
        body = json.loads(args[args.index("-d") + 1]) if "-d" in args else None
        path = next(a for a in args if a.startswith("localhost:3000")).removeprefix("localhost:3000")
        calls.append((method, path, body, json.loads(answer.removeprefix("# "))))
    return calls


async def test_the_complete_example_of_docs_state_runs_as_written(tmp_path: Path, node: str) -> None:
    # Given the example's files, written as the manual shows them
    text = DOC.read_text()
    files = dict(_FILE.findall(text))
    assert sorted(files) == ["motia.yaml", "steps/get_room.js", "steps/list_rooms.py",
                             "steps/post_message.py"]
    for rel, source in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(source)
    # When the manual's curl calls are sent, Then each answer is the one it shows
    calls = _calls(text)
    assert len(calls) == 3
    async with TestApp(tmp_path) as app:
        for method, path, body, expected in calls:
            kwargs = {} if body is None else {"json": body}
            res = await app.request(method, path, **kwargs)  # type: ignore[arg-type]
            assert res.status < 300 and res.json == expected, (method, path, res.text)
