"""Does a code file parse? `motia dev` asks before it replaces a step's workers.

A worker that cannot import its handler would only fail on the next request; checking
the syntax first lets the reload say what is wrong at once (`steps/a.py:3: SyntaxError:
...`) and keep the last good workers serving. Python files are compiled in-process
(`compile()`, nothing runs); Node.js files go through `node --check`.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from pathlib import Path

_NODE_WHERE = re.compile(r"^(?P<file>.+):(?P<line>\d+)$")
_NODE_ERROR = re.compile(r"^(?P<kind>\w*Error): (?P<message>.*)$")


def python_syntax_error(path: Path, root: Path) -> str | None:
    """`file:line: SyntaxError: message` when `path` does not compile, else None."""
    try:
        source = path.read_bytes()
    except OSError:
        return None  # deleted or unreadable: the import will say so
    try:
        compile(source, str(path), "exec", dont_inherit=True)
    except SyntaxError as exc:
        return f"{_relative(path, root)}:{exc.lineno}: {type(exc).__name__}: {exc.msg}"
    except ValueError as exc:  # a NUL byte
        return f"{_relative(path, root)}: SyntaxError: {exc}"
    return None


async def node_syntax_error(path: Path, root: Path, node: str | None = None) -> str | None:
    """`file:line: SyntaxError: message` when `node --check` rejects `path`, else None
    (also when Node.js is not installed: the worker's start reports that)."""
    if path.suffix == ".json" or not path.is_file():
        return None
    binary = node or os.environ.get("MOTIA_NODE") or shutil.which("node")
    if binary is None:
        return None
    process = await asyncio.create_subprocess_exec(
        binary, "--check", str(path), stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    _, err = await process.communicate()
    if process.returncode == 0:
        return None
    return _node_message(err.decode("utf-8", "replace"), path, root)


def _node_message(stderr: str, path: Path, root: Path) -> str:
    line, message = "", "node --check failed"
    for text in stderr.splitlines():
        where = _NODE_WHERE.match(text.strip())
        if where and not line:
            line = where.group("line")
        error = _NODE_ERROR.match(text.strip())
        if error:
            message = f"{error.group('kind')}: {error.group('message')}"
            break
    place = f"{_relative(path, root)}:{line}" if line else _relative(path, root)
    return f"{place}: {message}"


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)
