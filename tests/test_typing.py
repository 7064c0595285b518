"""The codebase type-checks: mypy (strict on motia.compiler, per pyproject) finds nothing.

mypy cannot follow the editable install's folder -> motia.* mapping, so the test lays the
package out as it is installed (a tree of symlinks) and checks `-p motia` there.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_mypy_finds_nothing(mypy: str, motia_for_mypy: Path) -> None:
    root = motia_for_mypy
    result = subprocess.run(
        [mypy, "--no-incremental", "--config-file", str(REPO / "pyproject.toml"), "-p", "motia"],
        capture_output=True, text=True, cwd=root, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --- the runtime objects a Python handler gets are the public types ---------------------

#: members the worker's objects do not have yet, each landing with its own issue; once one
#: lands, it is checked like every other member (and may be removed from here)
PENDING: dict[str, str] = {}  # member -> why the worker does not match it yet
#: public Protocol -> (the worker's class, the Protocol's type parameters spelt out)
RUNTIME = {
    "ApiRequest": ("Request", {"BodyT_co": "Any"}),
    "Context": ("Context", {"EmitT_contra": "Emit"}),
    "State": ("State", {}),
    "Logger": ("Logger", {}),
}
HEADER = """\
from __future__ import annotations
from collections.abc import Awaitable, Mapping, Sequence
from typing import Any, Protocol
from motia._handler_api import *
from motia._handler_api import ExcInfo
from motia.runner.workers import _pycontext as rt
"""


def _member_checks() -> tuple[str, dict[int, str], set[str]]:
    """A module checking each member the worker's objects have against the public
    Protocol's declaration of it (copied from its source), the line of each check, and
    the members the worker's objects lack."""
    import inspect

    import motia
    from motia.runner.workers import _pycontext

    lines, where, missing = [HEADER], {}, set()
    for public, (runtime, params) in RUNTIME.items():
        protocol, cls = getattr(motia, public), getattr(_pycontext, runtime)
        dynamic = "__getattr__" in vars(cls)
        for name, member in vars(protocol).items():
            if name.startswith("_") or not callable(getattr(member, "fget", member)):
                continue
            if not (dynamic or hasattr(cls, name)):
                missing.add(f"{public}.{name}")
                continue
            source = inspect.getsource(getattr(member, "fget", member))
            if isinstance(member, property):
                source = "    @property\n" + source
            for var, value in params.items():
                source = source.replace(var, value)
            lines.append(f"class _{public}_{name}(Protocol):\n{source}")
            lines.append(f"def _check_{public}_{name}(x: rt.{runtime}) -> None:")
            lines.append(f"    y: _{public}_{name} = x")
            where[sum(text.count("\n") + 1 for text in lines)] = f"{public}.{name}"
    return "\n".join(lines) + "\n", where, missing


def test_the_workers_objects_satisfy_the_public_types(mypy: str, motia_for_mypy: Path,
                                                      tmp_path: Path) -> None:
    # Given a module assigning each worker object to each member of its public Protocol
    source, where, missing = _member_checks()
    (tmp_path / "runtime_types.py").write_text(source)
    # When mypy checks it
    result = subprocess.run(
        [mypy, "--no-incremental", "--strict", "--follow-imports=silent",
         "--no-warn-unused-ignores", "runtime_types.py"],
        capture_output=True, text=True, cwd=tmp_path, timeout=300,
        env={**os.environ, "MYPYPATH": str(motia_for_mypy)})
    # Then every member the worker has matches, and only pending ones are missing or differ
    failing = {where.get(int(line.split(":")[1]), line) for line in result.stdout.splitlines()
               if line.startswith("runtime_types.py:")}
    unexpected = sorted((failing | missing) - set(PENDING))
    assert unexpected == [], result.stdout
    assert where, "no member was checked"
