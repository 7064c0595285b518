"""Strict JSON input: what the gateway, the admin API and the CLI accept from clients."""

from __future__ import annotations

import time

import pytest

from motia.runner._json_input import MAX_DEPTH, loads


@pytest.mark.parametrize(("data", "message"), [
    (b"[" * 100_000 + b"]" * 100_000,
     "it nests arrays and objects more than 100 levels deep; flatten the document"),
    (b'{"a":' * 101 + b"1" + b"}" * 101,
     "it nests arrays and objects more than 100 levels deep; flatten the document"),
    (b"[" * 101 + b"]" * 101,
     "it nests arrays and objects more than 100 levels deep; flatten the document"),
    (b'{"a": NaN}', "NaN is not a JSON number (JSON has no NaN or Infinity); send a number, "
                    "a string or null"),
    (b"[1, -Infinity]", "-Infinity is not a JSON number (JSON has no NaN or Infinity); send "
                        "a number, a string or null"),
    (b'{"a": ["ok", "\\ud800"]}', "the string at /a/1 holds a lone surrogate (\\ud800), "
     "which is not a character; send the text as UTF-8 or as a complete surrogate pair"),
    (b'{"a/b~": {"\\uDC00": 1}}', "a key of the object at /a~1b~0 holds a lone surrogate "
     "(\\udc00), which is not a character; send the text as UTF-8 or as a complete "
     "surrogate pair"),
    (b'"\xed\xa0\x80"', "not UTF-8 (invalid continuation byte at byte 1)"),
    (b'"\xff"', "not UTF-8 (invalid start byte at byte 1)"),
    ('"\udcff"', "the text holds a lone surrogate (\\udcff), which is not a character; send "
                 "the text as UTF-8 or as a complete surrogate pair"),
    (b"{id: 1}", "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"),
])
def test_hostile_json_is_refused_with_what_was_wrong(data: str | bytes, message: str) -> None:
    with pytest.raises(ValueError) as raised:
        loads(data)
    assert str(raised.value) == message


@pytest.mark.parametrize(("data", "value"), [
    (b"[" * MAX_DEPTH + b"]" * MAX_DEPTH, eval("[" * MAX_DEPTH + "]" * MAX_DEPTH)),
    (b'{"nul": "a\\u0000b", "pair": "\\ud83d\\ude80", "brackets": "[[[[{{{{"}',
     {"nul": "a\x00b", "pair": "🚀", "brackets": "[[[[{{{{"}),
    (b'\xef\xbb\xbf{"bom": true}', {"bom": True}),
    ("[1.5, 1e308, -0.0]", [1.5, 1e308, -0.0]),
    (b"[" + b"[]," * 5000 + b"[]]", [[]] * 5001),
])
def test_everything_else_json_allows_is_read_as_usual(data: str | bytes, value: object) -> None:
    assert loads(data) == value


def test_a_100000_deep_document_is_refused_quickly() -> None:
    started = time.perf_counter()
    with pytest.raises(ValueError, match="more than 100 levels deep"):
        loads(b"[" * 100_000 + b"]" * 100_000)
    assert time.perf_counter() - started < 1.0
