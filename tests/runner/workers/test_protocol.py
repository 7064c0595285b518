"""PROTOCOL.md matches the code on both ends, and frames survive any way the stream splits."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from motia.runner.workers import _protocol as p

from .conftest import MakePool, app, ctx, step, write

HERE = Path(p.__file__).parent
PROTOCOL = (HERE / "PROTOCOL.md").read_text()
NODE = (HERE / "node_worker.js").read_text()
CONSTANTS = {n: v for n, v in vars(p).items() if n.isupper() and isinstance(v, str | int)}
MESSAGES = (*p.WORKER_MESSAGES, *p.HOST_MESSAGES)


def test_every_message_type_and_operation_has_a_row_in_the_doc() -> None:
    # Given the message types and operations the Python code declares
    ops = {v for n, v in CONSTANTS.items() if n.startswith("OP_")}
    names = [*MESSAGES, *ops]
    # Then each has a row in PROTOCOL.md's tables, and the tables list nothing else
    assert [n for n in names if f"| `{n}` |" not in PROTOCOL] == []
    assert set(re.findall(r"^\| `([a-z_.]+)` \|", PROTOCOL, re.MULTILINE)) == set(names)
    assert set(p.OPS) == ops


def test_every_other_constant_is_named_in_the_doc() -> None:
    others = [n for n, v in CONSTANTS.items() if v not in (*MESSAGES, *p.OPS)]
    assert [n for n in others if f"`{n}`" not in PROTOCOL] == []
    for name in ("EXIT_OK", "EXIT_LOAD_FAILED", "EXIT_PROTOCOL"):
        assert f"`{name}` ({CONSTANTS[name]})" in PROTOCOL
    assert f"version {p.PROTOCOL_VERSION}" in PROTOCOL and f"`{p.WORKER_FD_ENV}`" in PROTOCOL


def test_the_node_worker_uses_the_same_names_and_numbers() -> None:
    # Given the constants node_worker.js declares
    declared = dict(re.findall(r"^const ([A-Z_]+) = '([a-z_.]+)';$", NODE, re.MULTILINE))
    numbers = dict(re.findall(r"^const ([A-Z_]+) = (\d+);$", NODE, re.MULTILINE))
    # Then they are the Python ones, name for name
    assert {n: CONSTANTS.get(n) for n in declared} == declared
    assert set(declared.values()) == {*MESSAGES, *p.OPS}
    assert {n: CONSTANTS[n] for n in numbers} == {n: int(v) for n, v in numbers.items()}
    assert set(numbers) == {"EXIT_OK", "EXIT_LOAD_FAILED", "EXIT_PROTOCOL", "PROTOCOL_VERSION", "BATCH",
                            "MAX_EVENT_ID"}
    assert p.WORKER_FD_ENV in NODE and f"MAX_FRAME = {p.MAX_FRAME // 2**20} * 1024 * 1024" in NODE


def feed(buffer: p.FrameBuffer, data: bytes) -> list[object]:
    view = buffer.get_buffer()
    assert len(view) > 0
    chunk = data[: len(view)]
    view[: len(chunk)] = chunk
    messages = buffer.updated(len(chunk))
    return messages + (feed(buffer, data[len(chunk):]) if len(chunk) < len(data) else [])


@given(st.lists(st.recursive(st.none() | st.booleans() | st.integers() | st.text(),
                             lambda c: st.lists(c) | st.dictionaries(st.text(), c), max_leaves=8),
                max_size=6),
       st.lists(st.integers(min_value=1, max_value=50), max_size=20))
def test_frames_split_anywhere_come_out_whole(values: list[object], cuts: list[int]) -> None:
    # Given a stream of frames cut into arbitrary chunks
    stream = b"".join(p.frame({"type": "log", "data": v}) for v in values)
    buffer = p.FrameBuffer(size=64)
    received: list[object] = []
    pos = 0
    for cut in cuts:
        received += feed(buffer, stream[pos:pos + cut])
        pos += cut
    received += feed(buffer, stream[pos:]) if pos < len(stream) else []
    # Then every message comes out once, in order
    assert received == [{"type": "log", "data": v} for v in values]


def test_a_frame_larger_than_the_buffer_grows_it_and_then_shrinks_back() -> None:
    buffer = p.FrameBuffer(size=16)
    big = {"type": "result", "id": 1, "value": "x" * 1000}
    assert feed(buffer, p.frame(big) + p.frame({"type": "cancel", "id": 2})) == [big, {"type": "cancel", "id": 2}]
    assert len(buffer.get_buffer()) == 16


def test_a_broken_stream_is_a_protocol_error() -> None:
    buffer = p.FrameBuffer()
    with pytest.raises(p.ProtocolError, match="frame is not UTF-8 JSON"):
        feed(buffer, p.HEADER.pack(3) + b"{x}")
    with pytest.raises(p.ProtocolError, match="over the 268435456 byte limit"):
        feed(p.FrameBuffer(), p.HEADER.pack(p.MAX_FRAME + 1))


def test_values_that_are_not_json_are_refused_by_frame_and_kept_by_frame_lenient() -> None:
    loop: list[object] = []
    loop.append(loop)
    for bad in ({1, 2}, float("nan"), loop):
        with pytest.raises(p.NOT_JSON):
            p.frame({"type": "result", "value": bad})
    assert b'"data":"{1, 2}"' in p.frame_lenient({"type": "log", "data": {1, 2}})


async def test_a_large_payload_crosses_both_workers_intact(
    tmp_path: Path, make_pool: MakePool, node: str
) -> None:
    # Given an identity handler in each language, and a payload of a few megabytes
    write(tmp_path, {"steps/id.py": "async def handler(data, ctx):\n    return data\n",
                     "steps/id.js": "exports.handler = async (data) => data;\n"})
    pool = make_pool(app(tmp_path, step("py", "steps/id.py"), step("js", "steps/id.js")), node=node)
    payload = {"text": "é€ \u2028 \"quoted\"\n" * 200_000, "numbers": list(range(10_000))}

    # When it goes through each worker, several at once, Then it comes back unchanged
    for name in ("py", "js"):
        results = await asyncio.gather(*(pool.invoke(name, payload, ctx(i)) for i in range(3)))
        assert all(r.value == payload for r in results)
