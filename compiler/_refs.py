"""Schema names, inline schemas and `$ref` files, turned into self-contained JSON Schemas.

The runner and the exporters want one dict per payload, so every `$ref` that is not
local (`#...`) is inlined here: a name declared under `schemas:`, or a file relative to
the file holding the `$ref` (`schemas/invoice.json`, optionally `#/json/pointer`). A
schema with local refs inlined somewhere else gets an `$id`, so `#/$defs/x` inside it
still means its own `$defs`. Every piece is checked against the draft 2020-12
meta-schema where it is written, so errors point at the line that is wrong.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from motia.compiler._metaschema import known_keywords, schema_problem
from motia.compiler._problems import Problems
from motia.compiler.ir import JSONSchema
from motia.compiler.loader import JSONPath, PathPart, parse_document
from motia.compiler.suggest import closest, did_you_mean
from motia.errors import CompileError, Diagnostic

_DATA_KEYWORDS = frozenset({"enum", "const", "default", "examples"})
_SCHEMA_MAPS = frozenset({"properties", "patternProperties", "$defs", "definitions",
                          "dependentSchemas"})
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_REMOTE_HINT = "save the schema next to motia.yaml and refer to the file by its path"
_RECURSION_HINT = "inlined schemas cannot be recursive; use `#/$defs/...` inside one schema"


@dataclass(frozen=True)
class _Where:
    """A place in a schema: in motia.yaml (`yaml`), or in a file reached from `anchor`."""

    anchor: JSONPath
    base: Path
    yaml: JSONPath | None = None
    file: str = ""
    pointer: str = ""

    def child(self, part: PathPart) -> _Where:
        if self.yaml is not None:
            return replace(self, yaml=self.yaml + (part,))
        return replace(self, pointer=f"{self.pointer}/{part}")


class _Located(CompileError):
    """A CompileError that knows the _Where it happened."""

    def __init__(self, where: _Where, message: str, hint: str = "") -> None:
        if where.file:
            message = f"{message} (in '{where.file}' at {where.pointer or '/'})"
        super().__init__(message, hint)
        self.where = where


class _Reported(Exception):
    """Raised to give up on a schema whose problem was already reported elsewhere."""


class SchemaResolver:
    """Resolves the `schemas:` section and every schema value that refers to it."""

    def __init__(self, problems: Problems, root: Path, declared: Mapping[str, Any]) -> None:
        self.problems = problems
        self.root = root
        self.declared = declared
        self.ref_files: set[str] = set()
        self._named: dict[str, JSONSchema] = {}
        self._failed: set[str] = set()
        self._resolving: list[str] = []
        self._files: dict[Path, Any] = {}
        self._loading: list[Path] = []

    def named_schemas(self) -> tuple[tuple[str, JSONSchema], ...]:
        """Every declared schema, resolved, in file order."""
        return tuple((name, self.named(name)) for name in self.declared)

    def named(self, name: str) -> JSONSchema:
        """The declared schema `name`, resolved ({} when it has an error, reported once)."""
        if name not in self._named:
            self._resolving.append(name)
            try:
                schema = self._inline(self.declared[name], ("schemas", name))
            finally:
                self._resolving.pop()
            if schema is None:
                self._failed.add(name)
            self._named[name] = {} if schema is None else schema
        return self._named[name]

    def use(self, value: Any, path: JSONPath) -> tuple[JSONSchema | None, str | None]:
        """The schema a topic, body, query or response names (`Payment`) or writes inline."""
        if value is None:
            return None, None
        if not isinstance(value, str):
            return self.inline(value, path), None
        if value not in self.declared:
            hint = did_you_mean(value, self.declared, fallback="declare it under `schemas:`")
            self.problems.error(path, CompileError(f"unknown schema '{value}'", hint))
            return None, None
        return self.named(value), value

    def inline(self, value: Any, path: JSONPath) -> JSONSchema:
        """An inline schema written at `path` of motia.yaml, checked and with refs inlined."""
        schema = self._inline(value, path)
        return {} if schema is None else schema

    def _inline(self, value: Any, path: JSONPath) -> JSONSchema | None:
        """The schema, or None when it has an error (reported here or by the schema stage)."""
        if not isinstance(value, dict | bool):
            return None
        problem = schema_problem(value)
        if problem is not None:
            inner, message, hint = problem
            self.problems.error(path + inner, CompileError(f"invalid JSON Schema: {message}", hint))
            return None
        try:
            return _as_dict(self._schema(value, _Where(path, self.root, yaml=path)))
        except _Located as exc:
            self.problems.error(exc.where.yaml or exc.where.anchor, exc)
        except _Reported:
            pass
        return None

    def _schema(self, node: Any, where: _Where) -> Any:
        if not isinstance(node, dict):
            return node
        out: dict[str, Any] = {}
        for key, value in node.items():
            if where.yaml is not None and key not in known_keywords():
                self._warn_keyword(key, where.child(key))
            out[key] = self._keyword(key, value, where.child(key))
        ref = node.get("$ref")
        if not isinstance(ref, str) or ref.startswith("#"):
            return out
        target = self._target(ref, where.child("$ref"))
        del out["$ref"]
        if not out:
            return target
        allof = out.get("allOf")
        out["allOf"] = [target, *(allof if isinstance(allof, list) else [])]
        return out

    def _warn_keyword(self, key: str, where: _Where) -> None:
        """JSON Schema ignores unknown keywords, so `requried: [id]` silently checks nothing."""
        match = closest(key, known_keywords())
        if match is not None and where.yaml is not None:
            self.problems.warn(where.yaml, f"unknown JSON Schema keyword '{key}' is ignored",
                               f"did you mean '{match}'?")

    def _keyword(self, key: str, value: Any, where: _Where) -> Any:
        if key in _DATA_KEYWORDS or key == "$ref":
            return value
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            return {name: self._schema(item, where.child(name)) for name, item in value.items()}
        if isinstance(value, list):
            return [self._schema(item, where.child(i)) for i, item in enumerate(value)]
        return self._schema(value, where)

    def _target(self, ref: str, where: _Where) -> Any:
        if ref in self.declared:
            if ref in self._resolving:
                loop = " -> ".join([*self._resolving[self._resolving.index(ref):], ref])
                raise _Located(where, f"schema '{ref}' refers to itself ({loop})", _RECURSION_HINT)
            schema = self.named(ref)
            if ref in self._failed:
                raise _Reported()
            return _with_id(schema, f"urn:motia:schema:{ref}")
        if _SCHEME.match(ref):
            raise _Located(where, f"remote $ref '{ref}' is not supported", _REMOTE_HINT)
        file_part, _, fragment = ref.partition("#")
        if "/" not in file_part and "." not in file_part:
            hint = did_you_mean(ref, self.declared, fallback="declare it under `schemas:`")
            raise _Located(where, f"unknown schema '{ref}'", hint)
        path = Path(os.path.normpath(where.base / file_part))
        content = self._file(path, where)
        rel = self._relative(path)
        if not fragment:
            return _with_id(content, f"urn:motia:file:{rel}")
        return _fragment(content, fragment, rel, where)

    def _file(self, path: Path, where: _Where) -> Any:
        if path in self._loading:
            raise _Located(where, f"schema file '{self._relative(path)}' refers to itself",
                           _RECURSION_HINT)
        if path not in self._files:
            self._loading.append(path)
            try:
                self._files[path] = self._load_file(path, where)
            except (_Located, _Reported):
                self._files[path] = _Reported
                raise
            finally:
                self._loading.pop()
        if self._files[path] is _Reported:
            raise _Reported()
        return self._files[path]

    def _load_file(self, path: Path, where: _Where) -> Any:
        rel = self._relative(path)
        if not _is_file(path):
            folder = self._relative(where.base)
            hint = (f"$ref paths are relative to the file holding them ({folder}/)" if folder
                    else "$ref paths are relative to the folder of motia.yaml")
            raise _Located(where, f"schema file '{rel}' not found", hint)
        self.ref_files.add(rel)
        content = self._parse_file(path, rel, where)
        problem = schema_problem(content)
        inner = _Where(where.yaml or where.anchor, path.parent, file=rel)
        if problem is not None:
            pointer = "".join(f"/{p}" for p in problem[0])
            raise _Located(replace(inner, pointer=pointer), f"invalid JSON Schema: {problem[1]}",
                           problem[2])
        return self._schema(content, inner)

    def _parse_file(self, path: Path, rel: str, where: _Where) -> Any:
        display = os.path.normpath(os.path.join(os.path.dirname(self.problems.doc.file), rel))
        line, col = self.problems.doc.mark(where.yaml or where.anchor)
        hint = f"referenced from {self.problems.doc.file}:{line}:{col}"
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise _Located(where, f"cannot read schema file '{rel}': {exc.strerror}") from None
        if path.suffix.lower() in (".yaml", ".yml"):
            try:
                return parse_document(data, display).data
            except CompileError as exc:
                line, col = getattr(exc, "position", (1, 1))
                self.problems.add(Diagnostic(display, line, col, exc.message, hint))
                raise _Reported() from None
        try:
            return json.loads(data.decode("utf-8-sig"))
        except UnicodeDecodeError:
            self.problems.add(Diagnostic(display, 1, 1, "the file is not valid UTF-8", hint))
        except json.JSONDecodeError as exc:
            self.problems.add(Diagnostic(display, exc.lineno, exc.colno, f"invalid JSON: {exc.msg}", hint))
        except RecursionError:
            self.problems.add(Diagnostic(display, 1, 1, "invalid JSON: nested too deeply", hint))
        raise _Reported()

    def _relative(self, path: Path) -> str:
        rel = os.path.relpath(path, self.root)
        return "" if rel == "." else Path(rel).as_posix()


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except (OSError, ValueError):  # a name the OS cannot hold (NUL, too long): not there
        return False


def _as_dict(schema: Any) -> JSONSchema:
    """JSON Schema booleans as dicts: `true` accepts anything, `false` nothing."""
    if schema is True:
        return {}
    if schema is False:
        return {"not": {}}
    return dict(schema)


def _with_id(schema: Any, uri: str) -> Any:
    if isinstance(schema, dict) and "$id" not in schema and has_local_refs(schema):
        return {"$id": uri, **schema}
    return schema


def has_local_refs(node: Any) -> bool:
    """Whether `node` holds a `$ref` to "#..." outside data keywords (const, enum, ...)."""
    if isinstance(node, list):
        return any(has_local_refs(item) for item in node)
    if not isinstance(node, dict):
        return False
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#"):
        return True
    return any(has_local_refs(v) for k, v in node.items() if k not in _DATA_KEYWORDS)


def _fragment(content: Any, fragment: str, rel: str, where: _Where) -> Any:
    """The part of a file a `file.json#/a/b` JSON pointer names."""
    node = content
    for raw in fragment.lstrip("/").split("/") if fragment.strip("/") else []:
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise _Located(where, f"'{rel}' has nothing at #{fragment}", "check the JSON pointer")
    if has_local_refs(node):
        raise _Located(where, f"'{rel}#{fragment}' uses local references ($ref: '#...')",
                       "refer to the whole file instead of a part of it")
    return node
