"""Merge one benchmark's rows into bench/README.md's shared table, keeping everyone else's."""

from __future__ import annotations

import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
HEADER = ["| bench | variant | events/s or req/s | p50 ms | p99 ms | at rate | ratio | date |",
          "|---|---|---|---|---|---|---|---|"]


def row(bench: str, variant: str, rate: float, p50: float, p99: float, at: str,
        ratio: str) -> str:
    today = datetime.date.today().isoformat()
    return (f"| {bench} | {variant} | {rate:,.0f} | {p50:.1f} | {p99:.1f} | {at} | {ratio} "
            f"| {today} |")


def update_rows(bench: str, rows: list[str], path: Path = HERE / "README.md") -> None:
    """Replace the rows whose first cell is `bench` with `rows`."""
    text = path.read_text() if path.exists() else (
        "# Benchmarks\n\nFigures from `.venv/bin/python bench/<name>.py` on one machine; "
        "each script rewrites only its own rows.\n\n" + "\n".join(HEADER) + "\n")
    lines = [line for line in text.splitlines() if not line.startswith(f"| {bench} |")]
    if HEADER[0] not in lines:
        lines += ["", *HEADER]
    at = lines.index(HEADER[0]) + 2
    while at < len(lines) and lines[at].startswith("|"):
        at += 1
    lines[at:at] = rows
    path.write_text("\n".join(lines).rstrip("\n") + "\n")
