"""What a handler file defines, read without running it: the compiler's check that the
function named in `handler:` exists.

Python files are parsed with `ast`: a name counts when the module binds it at its top
level (`def`, `async def`, `class`, an assignment, an import; inside `if`/`try`/`with`
blocks too). Node.js files get a static scan of their exports, CommonJS
(`exports.x =`, `module.exports = {...}`, `module.exports = fn`) and ESM
(`export function/const/class`, `export {a as b}`, `export default`), matching what the
Node worker accepts (runner/workers/node_worker.js `pickFunction`).

A file whose names cannot be known without running it (`from x import *`,
`module.exports = require(...)`, `export * from ...`, `exports[key] = ...`) is `opaque`:
the check then trusts it rather than fail a working project.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

__all__ = ["Definitions", "node_exports", "python_definitions"]


@dataclass(frozen=True)
class Definitions:
    """The names a handler file makes available to the worker."""

    #: every name the worker could pick (Python: every top-level binding)
    names: frozenset[str] = frozenset()
    #: the functions to list in a message, in file order (imports left out)
    functions: tuple[str, ...] = ()
    #: Node: the file's default export (or `module.exports`) is itself a function
    default_function: bool = False
    #: the file does something that hides its names from a static reading
    opaque: bool = False
    #: Node: the file uses ES module `export` syntax
    esm: bool = False
    #: Python: (line, column, message) of a syntax error; nothing else is known then
    syntax_error: tuple[int, int, str] | None = None

    def provides(self, function: str) -> bool:
        """True unless the file surely lacks `function` (or does not parse)."""
        if self.syntax_error is not None:
            return False
        if function in self.names or self.opaque:
            return True
        return function == "handler" and self.default_function


# --- Python --------------------------------------------------------------------------

#: a module using these can bind names no static reading sees
_DYNAMIC_NAMES = frozenset({"globals", "exec"})


def python_definitions(source: bytes) -> Definitions:
    """The top-level names of a Python module's source (its coding cookie honoured)."""
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        return Definitions(syntax_error=(exc.lineno or 1, exc.offset or 1, exc.msg))
    except ValueError as exc:  # NUL bytes, an undecodable file
        return Definitions(syntax_error=(1, 1, str(exc)))
    names: list[str] = []
    functions: list[str] = []
    opaque = _bind(tree.body, names, functions)
    opaque = opaque or "__getattr__" in names or any(
        isinstance(node, ast.Name) and node.id in _DYNAMIC_NAMES for node in ast.walk(tree))
    return Definitions(frozenset(names), tuple(dict.fromkeys(functions)), opaque=opaque)


def _bind(body: list[ast.stmt], names: list[str], functions: list[str]) -> bool:
    """Add the names `body` binds; True when it binds names no one can list (`import *`)."""
    opaque = False
    for node in body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.append(node.name)
            functions.append(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if isinstance(node, ast.AnnAssign) and node.value is None:
                continue  # `handler: Handler` alone binds nothing
            bound = [n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)]
            names += bound
            if isinstance(node.value, ast.Lambda):
                functions += bound
        elif isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                if alias.name == "*":
                    opaque = True
                else:
                    names.append(alias.asname or alias.name.split(".")[0])
        else:
            opaque = _bind_nested(node, names, functions) or opaque
    return opaque


def _bind_nested(node: ast.stmt, names: list[str], functions: list[str]) -> bool:
    """Names bound inside a top-level if/try/with/for/while block (any branch counts)."""
    opaque = False
    if isinstance(node, ast.For | ast.AsyncFor | ast.With | ast.AsyncWith):
        targets = [node.target] if isinstance(node, ast.For | ast.AsyncFor) else [
            item.optional_vars for item in node.items if item.optional_vars is not None]
        names += [n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)]
    for field in ("body", "orelse", "finalbody"):
        opaque = _bind(getattr(node, field, []), names, functions) or opaque
    for handler in getattr(node, "handlers", []):
        if handler.name:
            names.append(handler.name)
        opaque = _bind(handler.body, names, functions) or opaque
    return opaque


# --- Node.js -------------------------------------------------------------------------

_ID = r"[A-Za-z_$][\w$]*"
_CJS_NAMED = re.compile(rf"\b(?:module\s*\.\s*)?exports\s*\.\s*({_ID})\s*=(?!=)")
_CJS_INDEXED = re.compile(rf"\b(?:module\s*\.\s*)?exports\s*\[\s*\"({_ID})\"\s*\]\s*=(?!=)")
_CJS_OPAQUE = re.compile(
    rf"\bexports\s*\[(?!\s*\"{_ID}\"\s*\])"
    r"|Object\s*\.\s*(?:assign|defineProperty|defineProperties)\s*\(\s*(?:module\s*\.\s*)?exports\b")
_CJS_WHOLE = re.compile(r"\bmodule\s*\.\s*exports\s*=(?!=)\s*")
_ESM_DECLARED = re.compile(
    rf"\bexport\s+(?:async\s+)?(?:function\s*\*?|class)\s*({_ID})"
    rf"|\bexport\s+(?:const|let|var)\s+({_ID})")
_ESM_DESTRUCTURED = re.compile(r"\bexport\s+(?:const|let|var)\s*[{\[]")
_ESM_LIST = re.compile(r"\bexport\s*\{([^}]*)\}")
_ESM_STAR = re.compile(rf"\bexport\s*\*\s*(?:as\s+({_ID}))?")
_ESM_DEFAULT = re.compile(r"\bexport\s+default\s+")
_ESM_ANY = re.compile(r"(?<![\w$.])(?:export\s*[\w{*]|import\s*[\w{*\"])")
_FUNCTION_START = re.compile(
    rf"(?:async\s+)?function\b|class\b|(?:async\s*)?\([^()]*\)\s*=>|(?:async\s+)?{_ID}\s*=>")
_MEMBER = re.compile(rf"^(?:async\s+|get\s+|set\s+|\*\s*)*\"?({_ID})\"?\s*(?:[:(]|$)")


def node_exports(text: str) -> Definitions:
    """The names a CommonJS or ES module exports, read from its source text."""
    code = strip_js(text)
    names: list[str] = [m.group(1) for m in _CJS_NAMED.finditer(code)]
    names += [m.group(1) for m in _CJS_INDEXED.finditer(code)]
    opaque = _CJS_OPAQUE.search(code) is not None
    default_function = False
    for match in _CJS_WHOLE.finditer(code):
        keys, is_function = _exported_value(code, match.end())
        default_function = default_function or is_function
        opaque = opaque or (keys is None and not is_function)
        names += keys or []
    for match in _ESM_DECLARED.finditer(code):
        names.append(match.group(1) or match.group(2))
    opaque = opaque or _ESM_DESTRUCTURED.search(code) is not None
    for match in _ESM_LIST.finditer(code):
        names += _list_names(match.group(1))
    for match in _ESM_STAR.finditer(code):
        if match.group(1):
            names.append(match.group(1))
        else:
            opaque = True
    for match in _ESM_DEFAULT.finditer(code):
        names.append("default")
        keys, is_function = _exported_value(code, match.end())
        default_function = default_function or is_function
        opaque = opaque or (keys is None and not is_function)
        names += keys or []
    shown = [n for n in dict.fromkeys(names) if n != "default"]
    esm = _ESM_ANY.search(code) is not None
    return Definitions(frozenset(names), tuple(shown), default_function, opaque, esm=esm)


def _exported_value(code: str, start: int) -> tuple[list[str] | None, bool]:
    """(the keys of an object literal, or None when it is not one; whether it is a function)."""
    if _FUNCTION_START.match(code, start):
        return None, True
    if not code.startswith("{", start):
        return None, False
    body = _balanced(code, start)
    if body is None:
        return None, False
    keys: list[str] = []
    for entry in _split_top(body):
        member = _MEMBER.match(entry.strip())
        if member is None:
            return None, False  # `...spread`, `[computed]: x`: not knowable
        keys.append(member.group(1))
    return keys, False


def _list_names(inner: str) -> list[str]:
    """`a, b as c, d as default` -> the exported names a, c, default."""
    names = []
    for part in inner.split(","):
        words = part.split()
        if words:
            names.append(words[-1].strip('"'))
    return names


_OPEN, _CLOSE = "([{", ")]}"


def _balanced(code: str, start: int) -> str | None:
    """The text inside the bracket at `start` up to its match, None if it never closes."""
    depth = 0
    for index in range(start, len(code)):
        char = code[index]
        if char in _OPEN:
            depth += 1
        elif char in _CLOSE:
            depth -= 1
            if depth == 0:
                return code[start + 1:index]
    return None


def _split_top(body: str) -> list[str]:
    """`body` split at the commas that are not inside brackets; empty entries dropped."""
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for char in body:
        depth += (char in _OPEN) - (char in _CLOSE)
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [part for part in parts if part.strip()]


_REGEX_AFTER = set("(,=:[!&|?{};+-*%<>~^")
_REGEX_KEYWORD = re.compile(
    r"(?<![\w$.])(?:return|typeof|case|do|else|in|of|new|delete|void|throw|yield|await)$")
_PLAIN_STRING = re.compile(rf"^{_ID}$")


def strip_js(text: str) -> str:
    """`text` with comments blanked and literals emptied (a string whose content is one
    identifier is kept, as `"name"`), so patterns only ever match code."""
    out: list[str] = []
    index, length = 0, len(text)
    while index < length:
        char = text[index]
        pair = text[index:index + 2]
        if pair == "//":
            index = _find(text, "\n", index)
        elif pair == "/*":
            index = _find(text, "*/", index + 2) + 2
            out.append(" ")
        elif char in "\"'`":
            end = _string_end(text, index)
            content = text[index + 1:end - 1]
            out.append(f'"{content}"' if _PLAIN_STRING.match(content) else '""')
            index = end
        elif char == "/" and _regex_may_start(out):
            index = _string_end(text, index)
            out.append('""')
        else:
            out.append(char)
            index += 1
    return "".join(out)


def _find(text: str, needle: str, start: int) -> int:
    found = text.find(needle, start)
    return len(text) if found < 0 else found


def _string_end(text: str, start: int) -> int:
    """Index just past the literal opened at `start` (quote, backtick or regex slash)."""
    quote, index, in_class = text[start], start + 1, False
    while index < len(text):
        char = text[index]
        if char == "\\":
            index += 2
            continue
        if char == "\n" and quote in "\"'/":
            return index  # an unterminated literal ends at the line
        if quote == "/" and char in "[]":
            in_class = char == "["
        elif char == quote and not in_class:
            return index + 1
        index += 1
    return len(text)


def _regex_may_start(out: list[str]) -> bool:
    """A `/` starts a regular expression after an operator or a keyword, not after a value."""
    before = "".join(out[-12:]).rstrip()
    if not before:
        return True
    return before[-1] in _REGEX_AFTER or _REGEX_KEYWORD.search(before) is not None
