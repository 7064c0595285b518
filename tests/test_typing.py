"""The codebase type-checks: mypy (strict on motia.compiler, per pyproject) finds nothing.

mypy cannot follow the editable install's folder -> motia.* mapping, so the test lays the
package out as it is installed (a tree of symlinks) and checks `-p motia` there.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MAPPED = {"compiler": "compiler", "runner": "runner", "schema": "schema"}


def _installed_layout(root: Path) -> Path:
    package = root / "motia"
    package.mkdir()
    for entry in (REPO / "motia").iterdir():
        if entry.name != "__pycache__":
            (package / entry.name).symlink_to(entry)
    for name, folder in MAPPED.items():
        (package / name).symlink_to(REPO / folder)
    return root


def test_mypy_finds_nothing(tmp_path: Path) -> None:
    mypy = shutil.which("mypy", path=str(Path(sys.executable).parent)) or shutil.which("mypy")
    assert mypy, "mypy is in the test extra; reinstall with pip install -e '.[test]'"
    root = _installed_layout(tmp_path)
    result = subprocess.run(
        [mypy, "--no-incremental", "--config-file", str(REPO / "pyproject.toml"), "-p", "motia"],
        capture_output=True, text=True, cwd=root, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
