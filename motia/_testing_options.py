"""What `TestApp(...)` and the `motia_app` fixture accept: the project and the options.

One home for the rules, so the class and the fixture cannot drift apart:
- the project is found from the *test file's* folder, never the working directory
  (`pytest` run from anywhere sees the same app): no path means the nearest
  `motia.yaml` in that folder or above it;
- an unknown option is a TypeError that lists the valid ones (and the closest match);
- `retries` and `timeout` override every step's, so a failing test fails fast.
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from motia.compiler.ir import App
from motia.errors import CompileError
from motia.runner.config import RunConfig

#: RunConfig fields a test may set: all but the port, which is always a free one
RUN_OPTIONS = tuple(f.name for f in dataclasses.fields(RunConfig) if f.name != "port")
#: options applied to the compiled plan rather than the runtime
PLAN_OPTIONS = ("retries", "timeout")
OPTIONS = ("project", "retries", "timeout", *RUN_OPTIONS, "hooks")
PROJECT_FILE = "motia.yaml"
_FIXED = {"port": " (a test app listens on a free port: read its `url`)"}
_HERE = {str(Path(__file__).resolve().parent / name)
         for name in ("testing.py", "_testing_options.py", "_testing_sync.py", "pytest_plugin.py")}


def check_options(options: Mapping[str, Any], what: str = "TestApp") -> None:
    """TypeError naming the first unknown option, the closest valid one and every valid one."""
    for name in options:
        if name not in OPTIONS:
            close = difflib.get_close_matches(name, OPTIONS, n=1)
            hint = (_FIXED[name] if name in _FIXED else
                    f" (did you mean {close[0]!r}?)" if close else "")
            raise TypeError(f"{what}: unknown option {name!r}{hint}; valid options: "
                            f"{', '.join(OPTIONS)}")


def caller_folder() -> Path:
    """The folder of the first calling file outside motia's testing modules."""
    for frame in inspect.stack(context=0)[1:]:
        filename = frame.filename
        if filename.startswith("<"):
            continue
        if str(Path(filename).resolve()) not in _HERE:
            return Path(filename).resolve().parent
    return Path.cwd()


def find_project(project: str | Path | None, base: Path) -> Path:
    """The motia.yaml that `project` names, relative paths read from `base`.

    None, or a bare file name (`"motia.yaml"`), is looked for in `base` and each folder
    above it; any other relative path is relative to `base`; a folder means its motia.yaml.
    """
    name = PROJECT_FILE if project is None else Path(project).expanduser()
    path = Path(name)
    if path.is_absolute() or len(path.parts) > 1 or path.name in (".", ".."):
        found = (base / path).resolve()
        found = found / PROJECT_FILE if found.is_dir() else found
        if found.is_file():
            return found
        raise FileNotFoundError(
            f"{found} not found (a relative project path is read from the test file's "
            f"folder, {base}); pass the path of motia.yaml or of the folder holding it")
    for folder in (base, *base.parents):
        candidate = folder / path
        if candidate.is_file():
            return candidate.resolve()
        if candidate.is_dir() and (candidate / PROJECT_FILE).is_file():
            return (candidate / PROJECT_FILE).resolve()
    raise FileNotFoundError(
        f"no {path} in {base} or any folder above it; pass the project's path, e.g. "
        f"TestApp('../app/motia.yaml') or @pytest.mark.motia(project='../app') (relative to "
        "the test file)")


def plan_overrides(retries: int | None, timeout: str | float | None) -> dict[str, Any]:
    """The checked `retries` / `timeout` overrides (timeout in seconds)."""
    found: dict[str, Any] = {}
    if retries is not None:
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise ValueError(f"retries={retries!r}: expected a whole number, 0 or more")
        found["retries"] = retries
    if timeout is not None:
        from motia.compiler.units import parse_duration

        try:
            seconds = parse_duration(timeout)
        except CompileError as exc:
            raise ValueError(f"timeout={timeout!r}: {exc}") from None
        if seconds <= 0:
            raise ValueError(f"timeout={timeout!r}: expected more than 0 seconds")
        found["timeout"] = seconds
    return found


def apply_overrides(app: App, overrides: Mapping[str, Any]) -> App:
    """`app` with every running step's retries / timeout replaced by `overrides`."""
    if not overrides:
        return app
    steps = tuple(dataclasses.replace(s, **overrides) if s.runs else s for s in app.steps)
    return dataclasses.replace(app, steps=steps)
