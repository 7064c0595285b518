"""Property: whatever is in motia.yaml, the compiler answers success or ProjectInvalid.

Hypothesis mutates a valid project (the SPEC example) as data (delete keys, change
types, insert keys) and as text (truncate, splice in garbage), and checks that no
other exception escapes and that every diagnostic has a real place and a message.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from projects import SPEC_EXAMPLE, SPEC_FILES, write_project

from motia.compiler import compile_project
from motia.errors import ProjectInvalid

# MOTIA_FUZZ_EXAMPLES=5000 for a long, random hunt; the suite runs a short, fixed one.
_EXAMPLES = int(os.environ.get("MOTIA_FUZZ_EXAMPLES", "0"))
FUZZ = settings(max_examples=_EXAMPLES or 120, deadline=None, derandomize=not _EXAMPLES,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
BASE: dict[str, Any] = yaml.safe_load(SPEC_EXAMPLE)

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 10**12), st.floats(allow_nan=True),
    st.text(max_size=12),
    st.sampled_from(["api", "event", "cron", "noop", "10s", "512MB", "Payment", "payment.received",
                     "/x/{id}", "0 3 * * *", "steps/x.py", "steps/cleanup.py:fn", "$ref", "{", ":"]),
)
values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("fuzz")
    yield write_project(root, SPEC_EXAMPLE, SPEC_FILES, handlers=())


def compiles_or_reports(path: Path, text: str | bytes) -> None:
    if isinstance(text, str):
        text = text.encode("utf-8", "surrogatepass")
    path.write_bytes(text)
    try:
        compile_project(path)
    except ProjectInvalid as exc:
        assert exc.diagnostics
        for diagnostic in exc.diagnostics:
            assert diagnostic.line >= 1 and diagnostic.col >= 1 and diagnostic.message


def _containers(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path] if isinstance(node, dict | list) and node else []
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
    for key, child in children:
        found += _containers(child, path + (key,))
    return found


def _at(node: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        node = node[part]
    return node


@FUZZ
@given(st.data())
def test_mutated_data_never_escapes(project: Path, data: st.DataObject) -> None:
    doc = copy.deepcopy(BASE)
    for _ in range(data.draw(st.integers(1, 3))):
        containers = _containers(doc)
        if not containers:
            break
        parent = _at(doc, data.draw(st.sampled_from(containers)))
        keys = list(parent) if isinstance(parent, dict) else list(range(len(parent)))
        key = data.draw(st.sampled_from(keys))
        action = data.draw(st.sampled_from(["delete", "replace", "insert"]))
        if action == "delete":
            del parent[key]
        elif action == "replace":
            parent[key] = data.draw(values)
        elif isinstance(parent, dict):
            parent[data.draw(st.text(max_size=8))] = data.draw(values)
        else:
            parent.insert(key, data.draw(values))
    compiles_or_reports(project, yaml.safe_dump(doc, allow_unicode=True))


@FUZZ
@given(st.data())
def test_mutated_text_never_escapes(project: Path, data: st.DataObject) -> None:
    text = SPEC_EXAMPLE
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(text)))
        action = data.draw(st.sampled_from(["truncate", "insert", "delete", "replace"]))
        if action == "truncate":
            text = text[:at]
        elif action == "insert":
            garbage = data.draw(st.text(max_size=10) | st.sampled_from(
                ["\t", "- ", ": ", "&a ", "*a", "!!python/object:os.system", "<<: *a\n", "{[", "'", "\n  x: 1\n", "---\n"]))
            text = text[:at] + garbage + text[at:]
        elif action == "delete":
            text = text[:at] + text[at + data.draw(st.integers(1, 40)):]
        else:
            text = text[:at] + data.draw(st.characters()) + text[at + 1:]
    compiles_or_reports(project, text)


@FUZZ
@given(st.binary(max_size=200))
def test_random_bytes_never_escape(project: Path, blob: bytes) -> None:
    compiles_or_reports(project, blob)
