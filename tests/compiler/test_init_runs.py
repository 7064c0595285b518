"""`motia init` gives a project that not only compiles but runs: its flow end to end."""

from __future__ import annotations

from pathlib import Path

import pytest

from motia.cli import main
from motia.streams import StreamClient
from motia.testing import TestApp


async def test_the_new_project_greets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, node: str
) -> None:
    # Given a fresh project
    monkeypatch.chdir(tmp_path)
    assert main(["init", "hello"]) == 0
    # When a greeting is requested over HTTP
    async with TestApp(tmp_path / "hello" / "motia.yaml") as app, \
            StreamClient(app.url) as client:
        live = await client.subscribe("greetings", "all")
        created = await app.request("POST", "/greetings", json={"name": "Ada"})
        assert created.status == 202
        # Then the Node.js step writes it, and the Python API step reads it back
        await app.wait_for_topic("greeting.sent", timeout=30)
        read = await app.request("GET", f"/greetings/{created.json['id']}")
        assert (read.status, read.json["text"]) == (200, "Hello, Ada!")
        # And a client watching the greetings stream got it pushed as it was written
        change = await live.next(10)
        assert (change["op"], change["id"], change["data"]["text"]) == (
            "create", created.json["id"], "Hello, Ada!")
        # And a body that breaks the schema is a 400 before any handler runs
        assert (await app.request("POST", "/greetings", json={"nom": "Ada"})).status == 400
