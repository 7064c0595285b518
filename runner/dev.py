"""`motia dev`: `motia run` plus reloading when motia.yaml, a schema or a step's code changes.

The process stays up throughout, whatever the edit:

- A broken motia.yaml at start is not an exit: the compile errors are printed and the
  dev server waits for the file to be fixed, then starts (`compile_or_wait`).
- A changed motia.yaml or `$ref` schema file is recompiled; on success the new plan is
  swapped in (routes, bus consumers, cron loops, changed workers), on failure the compile
  errors are printed and the last good version keeps serving.
- A changed code file restarts the workers of the steps made of it: the step's handler
  and the project files it imports, transitively (runner/_deps.py). A file no step
  imports (a new script, a test) restarts nothing. Before workers are replaced, the
  changed files are parsed; a SyntaxError is printed at once with its file and line,
  and the last good workers keep serving until the file is fixed.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from motia.compiler.ir import LANGUAGE_BY_EXTENSION, App
from motia.errors import MotiaError, ProjectInvalid
from motia.runner._deps import IGNORED_DIRS, step_files, steps_using
from motia.runner._syntax import node_syntax_error, python_syntax_error

if TYPE_CHECKING:
    from motia.compiler import Compiled
    from motia.runner.app import Runtime

__all__ = ["IGNORED_DIRS", "DevReloader", "compile_or_wait", "default_compile"]

PLAN_SUFFIXES = frozenset({".yaml", ".yml", ".json"})
Compile = Callable[[Path], "Compiled"]


def default_compile(source: Path) -> Compiled:
    """Compile the project at `source` (raises ProjectInvalid with every diagnostic)."""
    from motia.compiler import compile_project

    return compile_project(source)


class DevReloader:
    """Watches the project of `runtime` and applies changes to it.

    `refs` are the `$ref` schema files of the plan being served (relative to the project
    root); without them every YAML/JSON file counts as a plan input.
    """

    def __init__(self, runtime: Runtime, source: Path, compile: Compile = default_compile,
                 *, debounce_ms: int = 150, refs: Iterable[str] | None = None) -> None:
        self.runtime = runtime
        self.source = source.resolve()
        self.root = self.source.parent
        self.compile = compile
        self.debounce_ms = debounce_ms
        self.refs = None if refs is None else {(self.root / r).resolve() for r in refs}
        self.reloads = 0  # successful plan swaps + worker reloads, for tests and the log
        self.failures = 0
        #: each step's files as of the last change: a deleted or renamed import still
        #: counts as the step's, though the new code no longer resolves it
        self.imports: dict[Path, list[Path]] = {}  # each file's imports as last parsed
        self.files = step_files(runtime.app, self.imports)

    async def watch(self, stop: asyncio.Event) -> None:
        """Apply every batch of changes until `stop` is set."""
        from watchfiles import awatch

        async for changes in awatch(self.root, watch_filter=self._wanted, stop_event=stop,
                                    debounce=self.debounce_ms, step=50, recursive=True):
            try:
                await self.apply(Path(path) for _, path in changes)
            except Exception as exc:  # a reload must never bring the dev server down
                self.failures += 1
                self.runtime.logger.error(f"reload failed: {type(exc).__name__}: {exc}")

    def _wanted(self, change: Any, path: str) -> bool:
        return watched(self.root, Path(path))

    def _is_plan_input(self, path: Path) -> bool:
        if path == self.source:
            return True
        if self.refs is not None:
            return path in self.refs
        return path.suffix in PLAN_SUFFIXES

    async def apply(self, paths: Iterable[Path]) -> None:
        """React to changed `paths` (absolute): recompile, swap, or restart workers."""
        files = {p.resolve() for p in paths}
        app = self.runtime.app
        changed: set[str] = set()
        if any(self._is_plan_input(p) for p in files):
            new = self._recompile()
            if new is None:
                return
            changed = await self.runtime.swap(new) or set()
            self._log_swap(changed)
            app = new
        code = {p for p in files if (p.suffix in LANGUAGE_BY_EXTENSION or p.suffix == ".json")
                and not self._is_plan_input(p)}  # a Node.js handler may require a .json
        before, self.files = self.files, step_files(app, self.imports)
        steps = (steps_using(before, code) | steps_using(self.files, code)) & self.files.keys()
        steps -= changed
        if not steps:
            if code:
                names = ", ".join(sorted(self._rel(p) for p in code))
                self.runtime.logger.debug(f"not reloading: no step imports {names}")
            return
        broken = await self._syntax_errors(self._to_check(steps, code))
        if broken:
            held: set[str] = set()
            for path, message in broken.items():
                using = {s for s in steps if path in self.files[s]}
                held |= using
                self.failures += 1
                self.runtime.logger.error(
                    f"{message}\n  still serving the last good version of "
                    f"{', '.join(sorted(using))}; fix the file to reload")
            steps -= held
        if steps:
            from motia.runner.app import _maybe_await

            await _maybe_await(self.runtime.pool.reload(app, changed=steps))
            self.reloads += 1
            self.runtime.logger.info(f"reloaded the workers of {', '.join(sorted(steps))}")

    def _to_check(self, steps: set[str], changed: set[Path]) -> set[Path]:
        """The files to parse before `steps` get new workers: every Python file they are
        made of (compiling is cheap, and a file still broken from an earlier edit must
        keep holding them), and of the Node.js ones the changed files and the handlers
        (`node --check` is a process each)."""
        app = self.runtime.app
        handlers = {(self.root / s.handler.path).resolve() for s in app.steps
                    if s.name in steps and s.handler is not None}
        files: set[Path] = set()
        for name in steps:
            for path in self.files[name]:
                if path.suffix == ".py" or path in changed or path in handlers:
                    files.add(path)
        return files

    async def _syntax_errors(self, files: set[Path]) -> dict[Path, str]:
        """{file: `file:line: SyntaxError: ...`} for each of `files` that does not parse."""
        found: dict[Path, str] = {}
        for path in sorted(files):
            language = LANGUAGE_BY_EXTENSION.get(path.suffix)
            if language == "python":
                error = python_syntax_error(path, self.root)
            else:
                error = await node_syntax_error(path, self.root)
            if error is not None:
                found[path] = error
        return found

    def _recompile(self) -> App | None:
        try:
            compiled = self.compile(self.source)
        except ProjectInvalid as exc:
            self.failures += 1
            self.runtime.logger.error(
                f"{self.source.name} has errors; still serving the last good version\n"
                f"{_errors(exc)}")
            return None
        except MotiaError as exc:
            self.failures += 1
            self.runtime.logger.error(
                f"{self.source.name} could not be compiled ({exc}); "
                "still serving the last good version")
            return None
        if self.refs is not None:  # a schema file that stopped being used still counts
            self.refs |= {(self.root / r).resolve() for r in compiled.ref_files}
        return compiled.app

    def _log_swap(self, changed: set[str]) -> None:
        self.reloads += 1
        what = ", ".join(sorted(changed)) if changed else "no step definitions"
        self.runtime.logger.info(f"{self.source.name} reloaded; changed: {what}")

    def _rel(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.root))
        except ValueError:
            return str(path)


def watched(root: Path, path: Path) -> bool:
    """Whether a change to `path` can matter to the project at `root`: a plan or code
    file outside tool folders (.motia, .git, node_modules, virtualenvs, caches)."""
    resolved = path.resolve()
    try:
        parts = resolved.relative_to(root).parts
    except ValueError:
        return False
    if any(p in IGNORED_DIRS or p.startswith(".") for p in parts[:-1]):
        return False
    return resolved.suffix in PLAN_SUFFIXES or resolved.suffix in LANGUAGE_BY_EXTENSION


def compile_or_wait(source: Path, compile: Compile, out: IO[str], *,
                    stop: threading.Event | None = None, debounce_ms: int = 150) -> Compiled | None:
    """The project's plan; while motia.yaml has errors, print them and wait for an edit,
    then try again. Returns None only when `stop` is set while waiting."""
    from watchfiles import watch

    root = source.parent
    while True:
        # motia.yaml as compiled: an edit made before the watcher below is up is seen by
        # comparing it on the watcher's first timeout
        failed = _contents([source])
        try:
            return compile(source)
        except ProjectInvalid as exc:
            out.write(f"{source.name} has errors; waiting for a fix (Ctrl+C to stop)\n"
                      f"{_errors(exc)}\n")
            out.flush()
        for changes in watch(root, watch_filter=lambda _c, p: watched(root, Path(p)),
                             stop_event=stop, debounce=debounce_ms, step=50, recursive=True,
                             rust_timeout=500, yield_on_timeout=True):
            if changes or _contents([source]) != failed:
                break
        else:
            return None
        out.write(f"{source.name}: a file changed; compiling again\n")
        out.flush()


def _contents(files: Iterable[Path]) -> dict[Path, bytes | None]:
    found: dict[Path, bytes | None] = {}
    for path in files:
        try:
            found[path] = path.read_bytes()
        except OSError:
            found[path] = None
    return found


def _errors(exc: ProjectInvalid) -> str:
    return "\n".join(str(d) for d in exc.diagnostics if d.severity == "error")
