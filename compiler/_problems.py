"""Where the compiler stages put what they find: errors and warnings, located once.

Rules raise a plain CompileError; the stage walking the file catches it and files it
here with the path it was looking at, and this turns the path into `file:line:col`.
A path the schema stage already reported (or anything under it) is not reported again.
"""

from __future__ import annotations

from collections.abc import Sequence

from motia.compiler.loader import Document, JSONPath, PathPart
from motia.errors import CompileError, Diagnostic


class Problems:
    """Errors and warnings of one compile, in the order they were found."""

    def __init__(self, doc: Document, tainted: set[JSONPath] | None = None) -> None:
        self.doc = doc
        self.tainted = tainted if tainted is not None else set()
        self.errors: list[Diagnostic] = []
        self.warnings: list[Diagnostic] = []

    def error(
        self, path: Sequence[PathPart], exc: CompileError, *, key: bool = False
    ) -> None:
        """File `exc` at `path` unless that place was already reported."""
        path = tuple(path)
        if self.is_tainted(path):
            return
        self.tainted.add(path)
        self.errors.append(self.doc.diagnostic(path, exc.message, exc.hint, key=key))

    def add(self, diagnostic: Diagnostic) -> None:
        """File an already located error (one in a file other than motia.yaml)."""
        self.errors.append(diagnostic)

    def warn(self, path: Sequence[PathPart], message: str, hint: str = "") -> None:
        """File a warning at the key of `path`: the project is valid but looks wrong."""
        self.warnings.append(
            self.doc.diagnostic(tuple(path), message, hint, key=True, severity="warning")
        )

    def is_tainted(self, path: JSONPath) -> bool:
        """True when `path` or a parent of it already has an error."""
        return any(path[:n] in self.tainted for n in range(len(path) + 1))

    def sorted_errors(self) -> list[Diagnostic]:
        """Errors in file order (motia.yaml first): the order a reader fixes them in."""
        return sorted(self.errors, key=self._position)

    def sorted_warnings(self) -> list[Diagnostic]:
        return sorted(self.warnings, key=self._position)

    def _position(self, diagnostic: Diagnostic) -> tuple[bool, str, int, int]:
        elsewhere = diagnostic.file != self.doc.file
        return elsewhere, diagnostic.file, diagnostic.line, diagnostic.col
