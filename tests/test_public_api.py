"""`import motia`: the typed, documented handler API, light enough for every worker."""

from __future__ import annotations

import inspect
import subprocess
import sys
import textwrap
from pathlib import Path

import motia
from motia.testing import TestApp

PUBLIC = {"ApiRequest", "AppendOp", "Context", "Emit", "EventContext", "IncrementOp", "Logger",
          "MergeOp", "Next", "RemoveOp", "Response", "SetOp", "State", "StateItem", "StatePage",
          "StatePath", "Stream", "StreamEvent", "Streams", "UpdateOp"}


def test_the_package_exports_the_handler_api() -> None:
    assert set(motia.__all__) == PUBLIC
    assert motia.EventContext is motia.Context
    assert motia.ApiRequest[dict].__origin__ is motia.ApiRequest  # type: ignore[attr-defined]


def test_every_public_class_and_member_has_a_docstring() -> None:
    undocumented = []
    for name in sorted(PUBLIC - {"StatePath", "UpdateOp", "EventContext"}):  # aliases
        value = getattr(motia, name)
        if not (value.__doc__ or "").strip():
            undocumented.append(name)
        for member, attr in vars(value).items():
            if member.startswith("_") or not callable(getattr(attr, "fget", attr)):
                continue
            if not (inspect.getdoc(attr) or "").strip():
                undocumented.append(f"{name}.{member}")
    assert undocumented == []


def test_import_motia_loads_nothing_heavy() -> None:
    # Given a fresh interpreter, When it imports motia and the Python worker
    code = textwrap.dedent("""
        import sys
        import motia, motia.runner.workers.python_worker
        heavy = {"aiohttp", "jsonschema", "yaml", "jinja2", "networkx", "croniter",
                 "typing_extensions", "motia._handler_api"}
        print(sorted(m for m in sys.modules if m in heavy))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    # Then none of the heavy libraries (nor even the typing Protocols) were imported
    assert out.strip() == "[]"


def test_response_is_the_dict_form_of_an_answer() -> None:
    response = motia.Response(201, {"id": "a1"}, {"Location": "/orders/a1"})
    assert response.to_dict() == {"status": 201, "body": {"id": "a1"},
                                  "headers": {"Location": "/orders/a1"}}
    assert motia.Response(204).to_dict() == {"status": 204, "body": None, "headers": {}}


RESPONSE_PROJECT = """\
version: 1
app: responses
flows: {f: {}}
steps:
  create:
    type: api
    method: POST
    path: /things
    flows: [f]
    handler: steps/create.py
"""
RESPONSE_HANDLER = """\
from motia import ApiRequest, Context, Response


async def handler(req: ApiRequest[dict], ctx: Context) -> Response:
    return Response(201, {"got": req.body["name"]}, {"Location": "/things/1"})
"""


async def test_a_handler_returning_motia_response_answers_with_it(tmp_path: Path) -> None:
    # Given a handler that returns motia.Response(...)
    (tmp_path / "steps").mkdir()
    (tmp_path / "steps" / "create.py").write_text(RESPONSE_HANDLER)
    (tmp_path / "motia.yaml").write_text(RESPONSE_PROJECT)
    async with TestApp(tmp_path / "motia.yaml") as app:
        # When the endpoint is called
        res = await app.request("POST", "/things", json={"name": "lamp"})
    # Then its status, body and headers are the response
    assert (res.status, res.json, res.headers.get("Location")) == (
        201, {"got": "lamp"}, "/things/1")
