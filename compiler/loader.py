"""Stage 1: read motia.yaml into plain data while keeping where every node came from.

PyYAML's safe loader gives the values but forgets positions, so we compose the node
tree ourselves (SafeLoader: no arbitrary objects, no custom tags), turn it into plain
JSON-like data and keep the nodes to answer "where is steps.x.emits[2]?" later.

Deliberate differences from `yaml.safe_load`, all in favour of a JSON-like config:
mapping keys are always their source text (`200:` is "200", `on:` is "on"), timestamps
stay strings, and a duplicate key is an error instead of silently keeping the last one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from motia.errors import CompileError, Diagnostic, ProjectInvalid

PathPart = str | int
JSONPath = tuple[PathPart, ...]

_MAX_DEPTH = 64  # no sane motia.yaml nests deeper; deeper input is an attack or a typo
_MAX_EXPANSION = 2_000_000  # nodes after aliases are expanded (billion-laughs guard)
_JSON_SCALARS = (str, int, float, bool, type(None))


@dataclass
class Document:
    """A parsed YAML file: its plain `data` and the nodes that locate every value."""

    file: str
    data: Any
    root: yaml.Node | None = None
    text: bytes = b""
    _entries: dict[int, dict[str, tuple[yaml.Node, yaml.Node]]] = field(default_factory=dict)

    def mark(self, path: Sequence[PathPart], *, key: bool = False) -> tuple[int, int]:
        """1-based (line, col) of the value at `path`, or of its key when `key` is set.

        A path that does not exist (a missing required key) resolves to the key of the
        deepest mapping entry that does, which is where the user has to add it.
        """
        node, key_node = self.root, None
        for part in path:
            found = self._child(node, part)
            if found is None:
                return _position(key_node or node)
            key_node, node = found
        return _position(key_node if key and key_node is not None else node)

    def diagnostic(
        self,
        path: Sequence[PathPart],
        message: str,
        hint: str = "",
        *,
        key: bool = False,
        severity: str = "error",
    ) -> Diagnostic:
        """A Diagnostic for the node at `path` of this file."""
        line, col = self.mark(path, key=key)
        return Diagnostic(self.file, line, col, message, hint, severity)

    def _child(
        self, node: yaml.Node | None, part: PathPart
    ) -> tuple[yaml.Node | None, yaml.Node] | None:
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            return self._entries.get(id(node), {}).get(part)
        if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(
            node.value
        ):
            return None, node.value[part]
        return None


def _position(node: yaml.Node | None) -> tuple[int, int]:
    if node is None:
        return 1, 1
    return node.start_mark.line + 1, node.start_mark.column + 1


def load_document(path: Path, file: str) -> Document:
    """Read and parse `path` (shown to users as `file`); raises ProjectInvalid."""
    text = path.read_bytes()
    try:
        return parse_document(text, file)
    except CompileError as exc:
        line, col = getattr(exc, "position", (1, 1))
        raise ProjectInvalid([Diagnostic(file, line, col, exc.message, exc.hint)]) from None


def parse_document(text: bytes, file: str) -> Document:
    """Parse YAML bytes; raises CompileError carrying a `.position` (line, col)."""
    source = _decode(text)
    try:
        loader = _FAST_LOADER(source)
    except yaml.YAMLError as exc:
        raise _syntax_error(source, exc) from None
    try:
        root = _compose(loader, source)
        doc = Document(file, None, root, text)
        if root is None:
            raise _located("the file is empty", (1, 1), "start with `version: 1` and `app: <name>`")
        doc.data = _Builder(loader, doc).build(root)
        return doc
    finally:
        loader.dispose()


def _decode(text: bytes) -> str:
    try:
        source = text.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = text.count(b"\n", 0, exc.start) + 1
        col = exc.start - (text.rfind(b"\n", 0, exc.start) + 1) + 1
        raise _located("the file is not valid UTF-8", (line, col), "save it as UTF-8") from None
    return source


def _compose(loader: Any, source: str) -> yaml.Node | None:
    try:
        node: yaml.Node | None = loader.get_single_node()
        return node
    except yaml.YAMLError as exc:
        if "maximum nesting depth" in str(exc):  # re-parsing that in Python takes seconds
            raise _describe(None, source) from None
        raise _syntax_error(source, exc) from None
    except RecursionError:
        raise _describe(None, source) from None


def _syntax_error(source: str, first: yaml.YAMLError | None) -> CompileError:
    """A located error for `source`, which failed to parse with `first` (None: too deep).

    libyaml's messages are terser than the pure-Python parser's ("found character that
    cannot start any token" without naming the tab), so we ask the latter what is wrong.
    """
    error = first
    try:
        loader = yaml.SafeLoader(source)  # its Reader rejects control characters at once
        try:
            loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        error = exc
    except RecursionError:
        error = None
    return _describe(error, source)


def _describe(error: yaml.YAMLError | None, source: str) -> CompileError:
    if isinstance(error, yaml.MarkedYAMLError):
        mark = error.problem_mark or error.context_mark
        position = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = error.problem or error.context or "invalid YAML"
        if "expected a single document" in str(error.context):
            problem = "the file holds more than one YAML document"
        return _located(f"YAML syntax error: {problem}", position, _syntax_hint(problem))
    if isinstance(error, yaml.reader.ReaderError):
        before = source[: error.position]
        position = (before.count("\n") + 1, error.position - (before.rfind("\n") + 1) + 1)
        return _located(f"YAML syntax error: character U+{error.character:04X} is not allowed",
                        position, "remove control characters from the file")
    if error is not None:
        return _located(f"YAML syntax error: {error}", (1, 1), _syntax_hint(""))
    return _located("YAML nesting is too deep", (1, 1), "flatten the structure")


def _syntax_hint(problem: str) -> str:
    if "\t" in problem or "'\\t'" in problem or "tab" in problem:
        return "indent with spaces, not tabs"
    if "more than one" in problem:
        return "remove the `---` separator: motia.yaml is a single document"
    return "check indentation, colons and quotes on this line or the one before"


def _located(message: str, position: tuple[int, int], hint: str = "") -> CompileError:
    error = CompileError(message, hint)
    error.position = position  # type: ignore[attr-defined]
    return error


class _Builder:
    """Turns composed nodes into plain data, indexing mapping entries for Document.mark."""

    def __init__(self, loader: Any, doc: Document) -> None:
        self.loader = loader
        self.doc = doc
        self.done: dict[int, Any] = {}
        self.sizes: dict[int, int] = {}
        self.active: set[int] = set()
        self.aliased = False  # without aliases the data is as big as the text: no blow-up

    def build(self, root: yaml.Node) -> Any:
        data = self.value(root, 0)
        if self.aliased and self._size(root) > _MAX_EXPANSION:
            raise self._error(root, "YAML aliases expand to too many nodes", "use fewer aliases")
        return data

    def value(self, node: yaml.Node, depth: int) -> Any:
        if id(node) in self.done:  # an alias: the same object, as safe_load gives
            self.aliased = True
            return self.done[id(node)]
        if id(node) in self.active:
            raise self._error(node, "a YAML alias refers to itself", "remove the recursive alias")
        if depth > _MAX_DEPTH:
            raise self._error(node, "YAML nesting is too deep", f"nest at most {_MAX_DEPTH} levels")
        self.active.add(id(node))
        try:
            result = self._convert(node, depth)
        finally:
            self.active.discard(id(node))
        self.done[id(node)] = result
        return result

    def _convert(self, node: yaml.Node, depth: int) -> Any:
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node)
        if node.tag not in _COLLECTION_TAGS:
            raise self._error(node, f"unsupported YAML tag {node.tag!r}", _TAG_HINT)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, depth)
        return [self.value(item, depth + 1) for item in node.value]

    def _scalar(self, node: yaml.Node) -> Any:
        try:
            value = self.loader.construct_object(node, deep=True)
        except yaml.constructor.ConstructorError as exc:
            raise self._error(node, f"unsupported YAML value: {exc.problem}", _TAG_HINT) from None
        return value if isinstance(value, _JSON_SCALARS) else str(node.value)

    def _mapping(self, node: yaml.MappingNode, depth: int) -> dict[str, Any]:
        entries: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        result: dict[str, Any] = {}
        merged: list[tuple[yaml.Node, yaml.Node]] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                merged.extend(self._merge_sources(value_node, depth))
                continue
            key = self._key(key_node)
            if key in entries:
                first = entries[key][0].start_mark.line + 1
                raise self._error(
                    key_node, f"duplicate key '{key}' (first defined on line {first})",
                    "remove one of them or rename it",
                )
            entries[key] = (key_node, value_node)
            result[key] = self.value(value_node, depth + 1)
        self._apply_merges(merged, entries, result)
        self.doc._entries[id(node)] = entries
        return result

    def _merge_sources(
        self, node: yaml.Node, depth: int
    ) -> list[tuple[yaml.Node, yaml.Node]]:
        """Entries a `<<:` key brings in, earlier sources first (they win over later ones)."""
        sources = node.value if isinstance(node, yaml.SequenceNode) else [node]
        pairs: list[tuple[yaml.Node, yaml.Node]] = []
        for source in sources:
            if not isinstance(source, yaml.MappingNode):
                raise self._error(source, "`<<` merges only mappings", "merge `*anchor` of a mapping")
            self.value(source, depth + 1)
            pairs.extend(self.doc._entries[id(source)].values())
        return pairs

    def _apply_merges(
        self,
        merged: list[tuple[yaml.Node, yaml.Node]],
        entries: dict[str, tuple[yaml.Node, yaml.Node]],
        result: dict[str, Any],
    ) -> None:
        for key_node, value_node in merged:
            key = str(key_node.value)
            if key not in entries:  # keys written in the mapping itself win
                entries[key] = (key_node, value_node)
                result[key] = self.done[id(value_node)]

    def _key(self, node: yaml.Node) -> str:
        if not isinstance(node, yaml.ScalarNode):
            raise self._error(node, "mapping keys must be plain text", "use a name as the key")
        return str(node.value)

    def _size(self, node: yaml.Node) -> int:
        """Number of nodes once aliases are expanded, memoised so this stays linear."""
        if id(node) not in self.sizes:
            self.sizes[id(node)] = 1  # guards the (already rejected) recursive case
            children: list[yaml.Node] = []
            if isinstance(node, yaml.MappingNode):
                children = [value for _, value in node.value]
            elif isinstance(node, yaml.SequenceNode):
                children = list(node.value)
            self.sizes[id(node)] = 1 + sum(self._size(child) for child in children)
        return self.sizes[id(node)]

    def _error(self, node: yaml.Node, message: str, hint: str) -> CompileError:
        return _located(message, _position(node), hint)


# libyaml (when PyYAML was built with it) parses ~7x faster; errors are re-read in Python.
_FAST_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_MERGE = "tag:yaml.org,2002:merge"
_COLLECTION_TAGS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")
_TAG_HINT = "motia.yaml holds plain data: remove the `!tag`"
