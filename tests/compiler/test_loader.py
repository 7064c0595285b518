"""The loader: plain data with a line and column for every node, and nothing unsafe."""

from __future__ import annotations

import pytest

from motia.compiler.loader import parse_document
from motia.errors import CompileError

TEXT = b"""\
version: 1
steps:
  a:
    emits: [x, y]
    responses: {200: ok, on: yes}
"""


def test_values_keep_where_they_were_written() -> None:
    doc = parse_document(TEXT, "motia.yaml")
    assert doc.mark(("steps", "a", "emits", 1)) == (4, 16)
    assert doc.mark(("steps", "a"), key=True) == (3, 3)
    assert doc.mark(("steps", "a")) == (4, 5)


def test_a_missing_path_points_at_the_deepest_key_that_exists() -> None:
    doc = parse_document(TEXT, "motia.yaml")
    assert doc.mark(("steps", "a", "handler")) == (3, 3)
    assert doc.mark(("nothing",)) == (1, 1)


def test_keys_are_their_source_text_and_values_follow_safe_load() -> None:
    # `200:` is the text "200" (status codes); `on:` stays "on"; `yes` is still true
    doc = parse_document(TEXT, "motia.yaml")
    assert doc.data["steps"]["a"]["responses"] == {"200": "ok", "on": True}


def test_timestamps_stay_text_so_the_plan_is_json() -> None:
    assert parse_document(b"when: 2024-01-01\n", "f").data == {"when": "2024-01-01"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (b"a: !!python/object/apply:os.system ['true']\n",
         "unsupported YAML tag 'tag:yaml.org,2002:python/object/apply:os.system'"),
        (b"a: !!python/name:os.system ''\n", "unsupported YAML value: could not determine a constructor"),
        (b"a: !custom 1\n", "unsupported YAML value: could not determine a constructor"),
        (b"a: &x [*x]\n", "a YAML alias refers to itself"),
        (b"? [a, b]\n: 1\n", "mapping keys must be plain text"),
        (b"a: 1\n---\nb: 2\n", "YAML syntax error: the file holds more than one YAML document"),
        (b"[" * 3000, "YAML nesting is too deep"),
        (b"a: \x07\n", "YAML syntax error: character U\\+0007 is not allowed"),
        (b"<<: 5\n", "`<<` merges only mappings"),
    ],
)
def test_unsafe_or_malformed_yaml_is_a_compile_error(text: bytes, message: str) -> None:
    with pytest.raises(CompileError, match=message):
        parse_document(text, "motia.yaml")


def test_billion_laughs_is_refused() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    with pytest.raises(CompileError, match="YAML aliases expand to too many nodes"):
        parse_document("\n".join(lines).encode(), "motia.yaml")


def test_aliases_give_the_same_values() -> None:
    doc = parse_document(b"a: &v {x: 1}\nb: *v\nc:\n  <<: *v\n  y: 2\n", "f")
    assert doc.data == {"a": {"x": 1}, "b": {"x": 1}, "c": {"x": 1, "y": 2}}
    assert doc.mark(("c", "x")) == (1, 11)  # a merged key points at where it was written


def test_a_byte_order_mark_is_fine() -> None:
    assert parse_document(b"\xef\xbb\xbfa: 1\n", "f").data == {"a": 1}
