"""`motia dev`: `motia run` plus reloading when motia.yaml, a schema or a handler changes.

The process stays up throughout. A changed handler file restarts only the workers of
the steps using it (other code files restart the workers of their language, since any
handler may import them). A changed motia.yaml or schema file is recompiled; on success
the new plan is swapped in (routes, bus consumers, cron loops, changed workers), on
failure the compile errors are printed and the last good version keeps serving.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from motia.compiler.ir import LANGUAGE_BY_EXTENSION, App
from motia.errors import MotiaError, ProjectInvalid

if TYPE_CHECKING:
    from motia.runner.app import Runtime

IGNORED_DIRS = frozenset({".motia", ".git", "node_modules", "__pycache__", ".venv", "venv",
                          ".mypy_cache", ".pytest_cache", ".ruff_cache"})
PLAN_SUFFIXES = frozenset({".yaml", ".yml", ".json"})
Compile = Callable[[Path], App]


def default_compile(source: Path) -> App:
    """Compile the project at `source` (raises ProjectInvalid with every diagnostic)."""
    from motia.compiler import compile_project

    app: App = compile_project(source).app
    return app


class DevReloader:
    """Watches the project of `runtime` and applies changes to it."""

    def __init__(self, runtime: Runtime, source: Path, compile: Compile = default_compile,
                 *, debounce_ms: int = 150) -> None:
        self.runtime = runtime
        self.source = source.resolve()
        self.root = self.source.parent
        self.compile = compile
        self.debounce_ms = debounce_ms
        self.reloads = 0  # successful plan swaps + worker reloads, for tests and the log
        self.failures = 0

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
        rel = Path(path).resolve()
        try:
            parts = rel.relative_to(self.root).parts
        except ValueError:
            return False
        if any(p in IGNORED_DIRS or p.startswith(".") for p in parts[:-1]):
            return False
        return rel.suffix in PLAN_SUFFIXES or rel.suffix in LANGUAGE_BY_EXTENSION

    async def apply(self, paths: Iterable[Path]) -> None:
        """React to changed `paths` (absolute): recompile, swap, or restart workers."""
        files = {p.resolve() for p in paths}
        app = self.runtime.app
        if any(p == self.source or p.suffix in PLAN_SUFFIXES for p in files):
            new = self._recompile()
            if new is None:
                return
            changed = await self.runtime.swap(new) or set()
            self._log_swap(changed)
            app = new
        else:
            changed = set()
        code = {p for p in files if p.suffix in LANGUAGE_BY_EXTENSION}
        steps = handler_steps(app, code) - changed
        if steps:
            from motia.runner.app import _maybe_await

            await _maybe_await(self.runtime.pool.reload(app, changed=steps))
            self.reloads += 1
            self.runtime.logger.info(f"reloaded the workers of {', '.join(sorted(steps))}")

    def _recompile(self) -> App | None:
        try:
            app = self.compile(self.source)
        except ProjectInvalid as exc:
            self.failures += 1
            errors = "\n".join(str(d) for d in exc.diagnostics if d.severity == "error")
            self.runtime.logger.error(
                f"{self.source.name} has errors; still serving the last good version\n{errors}")
            return None
        except MotiaError as exc:
            self.failures += 1
            self.runtime.logger.error(
                f"{self.source.name} could not be compiled ({exc}); "
                "still serving the last good version")
            return None
        return app

    def _log_swap(self, changed: set[str]) -> None:
        self.reloads += 1
        what = ", ".join(sorted(changed)) if changed else "no step definitions"
        self.runtime.logger.info(f"{self.source.name} reloaded; changed: {what}")


def handler_steps(app: App, files: set[Path]) -> set[str]:
    """Steps whose handler is one of `files`; for any other code file, every step of its
    language (a handler may import it)."""
    root = Path(app.root)
    by_file: dict[Path, set[str]] = {}
    for step in app.steps:
        if step.runs and step.handler is not None:
            by_file.setdefault((root / step.handler.path).resolve(), set()).add(step.name)
    names: set[str] = set()
    for path in files:
        if path in by_file:
            names |= by_file[path]
            continue
        language = LANGUAGE_BY_EXTENSION.get(path.suffix)
        names |= {s.name for s in app.steps
                  if s.runs and s.handler is not None and s.handler.language == language}
    return names
