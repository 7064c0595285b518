"""Raw HTTP for the path-traversal tests: clients normalise `..` and re-encode paths,
so these requests are written byte for byte on a socket, exactly as an attacker would."""

from __future__ import annotations

import asyncio


async def raw_get(port: int, target: str, headers: dict[str, str] | None = None,
                  host: str = "127.0.0.1") -> tuple[int, dict[str, str], bytes]:
    """Send `GET <target> HTTP/1.1` unmodified; return (status, headers, body)."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        lines = [f"GET {target} HTTP/1.1", f"Host: {host}:{port}", "Connection: close"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
        await writer.wait_closed()
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parsed = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        parsed[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), parsed, body


TRAVERSALS = (
    "/__motia/static/../../pyproject.toml",
    "/__motia/static/..%2f..%2fpyproject.toml",
    "/__motia/static/%2e%2e/%2e%2e/pyproject.toml",
    "/__motia/static/%2e%2e%2f%2e%2e%2f%2e%2e%2fpyproject.toml",
    "/__motia/static/%252e%252e%252fpyproject.toml",
    "/__motia/static/.%2e/routes.py",
    "/__motia/static/..%5c..%5cpyproject.toml",
    "/__motia/static/..\\..\\pyproject.toml",
    "/__motia/static//etc/passwd",
    "/__motia/static/%2fetc%2fpasswd",
    "/__motia/static/%2Fetc%2Fpasswd",
    "/__motia/static/C:%5cWindows%5cwin.ini",
    "/__motia/static/index.html%00.png",
    "/__motia/static/",
    "/__motia/static/.",
    "/__motia/static/..",
    "/__motia/static/.hidden",
    "/__motia/static/app.js/..%2f..%2froutes.py",
    "/__motia/..%2fpyproject.toml",
    "/__motia/%2e%2e/pyproject.toml",
)
"""Requests that must never reach a file outside runner/workbench/static/."""
