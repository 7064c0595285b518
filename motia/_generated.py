"""The files `motia compile` keeps in step with motia.yaml inside the project.

- `motia_types.py` and `motia-types.d.ts`: the types of the schemas and steps, created by
  `motia compile --types` (or `--stubs`, whose stubs import them) and rewritten by every
  compile afterwards, so the types never lag behind motia.yaml. A file of that name
  that motia did not write (no marker on its first line) is never touched.
- `.motia/motia.schema.json`: the JSON Schema of motia.yaml from the installed Motia,
  which the modeline `motia init` writes (`# yaml-language-server: $schema=...`) points
  at: editors validate against the very version that will compile the file, offline.

A file is only written when its text changed: `motia dev` restarts the workers that
import a file that changed, and every Python handler imports motia_types.py.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from motia.errors import MotiaError

if TYPE_CHECKING:
    from motia.compiler.ir import App

SCHEMA_FILE = Path(".motia") / "motia.schema.json"
#: what the modeline of a new project's motia.yaml says
MODELINE = f"# yaml-language-server: $schema={SCHEMA_FILE.as_posix()}"


def editor_schema() -> str:
    """The JSON Schema of motia.yaml this Motia ships."""
    return resources.files("motia.schema").joinpath("motia.schema.json").read_text("utf-8")


def generated_files(app: App, *, types: bool) -> list[tuple[Path, str]]:
    """(absolute path, text) of each file to keep in step; the type files when `types`
    is asked for or they exist already. Raises MotiaError rather than replace a file of
    that name that motia did not generate."""
    from motia.compiler import pytypes, tstypes

    root = Path(app.root)
    files = [(root / SCHEMA_FILE, editor_schema())]
    for name, marker, render in ((pytypes.FILE, pytypes.MARKER, pytypes.render_python_types),
                                 (tstypes.FILE, tstypes.MARKER, tstypes.render_ts_types)):
        path = root / name
        ours = _first_line(path) == marker
        if path.exists() and not ours and types:
            raise MotiaError(f"{name} exists and was not written by motia; rename or remove "
                             "it, and `motia compile --types` will write the generated one")
        if types or ours:
            files.append((path, render(app)))
    return files


def write_changed(files: list[tuple[Path, str]]) -> list[Path]:
    """Write each file whose text differs from what is on disk; the ones written."""
    written = []
    for path, text in files:
        try:
            if path.is_file() and path.read_text("utf-8", errors="replace") == text:
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, "utf-8")
        except OSError as exc:
            raise MotiaError(f"cannot write {path}: {exc.strerror or exc}") from None
        written.append(path)
    return written


def _first_line(path: Path) -> str | None:
    try:
        with path.open(encoding="utf-8", errors="replace") as file:
            return file.readline().rstrip("\n")
    except OSError:
        return None
