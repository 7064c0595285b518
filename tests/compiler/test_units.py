"""Durations, sizes and "did you mean"."""

from __future__ import annotations

import pytest

from motia.compiler.suggest import closest, did_you_mean
from motia.compiler.units import format_duration, format_size, parse_duration, parse_size
from motia.errors import CompileError


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("500ms", 0.5), ("10s", 10.0), ("1m", 60.0), ("1h", 3600.0), ("1d", 86400.0),
     ("1.5s", 1.5), (" 2 m ", 120.0), (30, 30.0), (0.25, 0.25), (0, 0.0)],
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["10x", "-1s", "s", "", "1 0s", True, None, [], float("inf"), -1])
def test_bad_durations(bad: object) -> None:
    with pytest.raises(CompileError, match="invalid duration"):
        parse_duration(bad)


@pytest.mark.parametrize(
    ("text", "size"),
    [("512MB", 512 * 1024**2), ("1GiB", 1024**3), ("64kb", 65536), ("100B", 100),
     ("1.5GB", 1536 * 1024**2), ("2TiB", 2 * 1024**4), (4096, 4096)],
)
def test_sizes(text: object, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("bad", ["12XB", "MB", "0.5B", 0, 1.5, "-1MB", True])
def test_bad_sizes(bad: object) -> None:
    with pytest.raises(CompileError, match="invalid size"):
        parse_size(bad)


def test_formats_round_trip() -> None:
    assert [format_duration(parse_duration(t)) for t in ("500ms", "10s", "1m", "1h", "1.5s")] == [
        "500ms", "10s", "1m", "1h", "1.5s"]
    assert [format_size(parse_size(t)) for t in ("512MB", "1GiB", "100B")] == ["512MB", "1GB", "100B"]


def test_did_you_mean() -> None:
    assert closest("handlr", ["handler", "flows"]) == "handler"
    assert closest("post", ["GET", "POST"]) == "POST"
    assert closest("zzz", ["handler"]) is None
    assert did_you_mean("zzz", ["a"], fallback="declare it") == "declare it"
    assert did_you_mean("order.placd", ["order.placed"]) == "did you mean 'order.placed'?"
