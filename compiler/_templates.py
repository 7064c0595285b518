"""The jinja2 environment every generated text file is rendered with.

The filters make any user-chosen text safe where it lands: a Python or JavaScript
literal, a raw Python docstring, a JavaScript comment, or (autoescaped) HTML. Names in
motia.yaml are free text, so nothing reaches a template unfiltered except our own ids.
"""

from __future__ import annotations

import json
import unicodedata
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

TEMPLATES = Path(__file__).resolve().parent / "templates"


def printable(text: str) -> str:
    """`text` with control, format and unpaired surrogate characters shown as `\\uXXXX`.

    Line feeds survive; every other line break (CR, U+2028, ...) is escaped too, so the
    caller alone decides where lines end.
    """
    return "".join(
        char if char == "\n" or not _hidden(char) else f"\\u{ord(char):04x}" for char in text
    )


def _hidden(char: str) -> bool:
    return unicodedata.category(char)[0] in "CZ" and char != " "


def one_line(text: str) -> str:
    """`text` printable and on one line."""
    return printable(" ".join(str(text).split("\n")))


def py_docstring(text: str, indent: int = 4) -> str:
    """Body of a raw (r-prefixed) docstring: `\"\"\"` broken, later lines indented."""
    safe = printable(str(text)).replace('"""', '""\\"')
    pad = " " * indent
    return "\n".join(line and pad + line if i else line for i, line in enumerate(safe.split("\n")))


def py_line(text: str) -> str:
    """`text` safe on one line of a raw docstring."""
    return py_docstring(one_line(text), 0)


def js_block(text: str) -> str:
    """Lines of a `/** ... */` comment, `*/` broken so the comment cannot end early."""
    safe = printable(str(text)).replace("*/", "*\\/")
    return "\n".join(f" * {line}".rstrip() for line in safe.split("\n"))


def js_line(text: str) -> str:
    """`text` safe in a `//` comment."""
    return one_line(text)


def literal(value: Any) -> str:
    """A JSON literal, which is also a valid Python and JavaScript literal for strings."""
    return json.dumps(value, ensure_ascii=True)


def py_literal(value: Any) -> str:
    """A Python literal of a JSON value (True/False/None rather than true/false/null)."""
    return repr(json.loads(json.dumps(value, default=str)))


@cache
def environment() -> jinja2.Environment:
    """The shared environment: HTML templates autoescape, code templates do not."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html", "html.j2")),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters.update(
        pystr=literal,
        pyrepr=py_literal,
        pydoc=py_docstring,
        pyline=py_line,
        jsstr=literal,
        jsdoc=js_block,
        jsline=js_line,
    )
    return env


def render(template: str, **context: Any) -> str:
    """Render `template` (a file in compiler/templates/) with `context`."""
    return str(environment().get_template(template).render(**context))
