"""The Workbench's HTTP surface: the page and its assets, path traversal refused with a
404 on every file-serving route, and the token guard for non-loopback binds."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from wb_http import TRAVERSALS, raw_get

from motia.runner.workbench import (
    STATIC_DIR,
    TOKEN_COOKIE,
    add_workbench_routes,
    workbench_auth_middleware,
)
from motia.runner.workbench.routes import resolve_asset

TOKEN = "s3cret-token"
Client = TestClient[web.Request, web.Application]


async def _hello(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


def _app(token: str | None = None) -> web.Application:
    app = web.Application(middlewares=[workbench_auth_middleware(token)])
    add_workbench_routes(app)
    app.router.add_get("/__motia/api/health", _hello)
    app.router.add_get("/orders", _hello)
    return app


@pytest.fixture
async def client() -> AsyncIterator[Client]:
    async with TestClient(TestServer(_app())) as c:
        yield c


@pytest.fixture
async def guarded() -> AsyncIterator[Client]:
    async with TestClient(TestServer(_app(TOKEN))) as c:
        yield c


# --- the page and its assets -------------------------------------------------------------


async def test_page_is_served_with_a_strict_content_security_policy(client: Client) -> None:
    response = await client.get("/__motia/")
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert '<script type="module" src="/__motia/static/app.js">' in await response.text()


async def test_bare_prefix_redirects_to_the_page(client: Client) -> None:
    response = await client.get("/__motia", allow_redirects=False)
    assert response.status == 302
    assert response.headers["Location"] == "/__motia/"


@pytest.mark.parametrize("name, content_type", [
    ("app.js", "text/javascript; charset=utf-8"),
    ("style.css", "text/css; charset=utf-8"),
    ("index.html", "text/html; charset=utf-8"),
])
async def test_assets_are_served_with_their_type(client: Client, name: str, content_type: str) -> None:
    response = await client.get(f"/__motia/static/{name}")
    assert response.status == 200
    assert response.headers["Content-Type"] == content_type
    assert await response.read() == (STATIC_DIR / name).read_bytes()


def test_static_files_never_reference_another_origin() -> None:
    # Given every file the page is made of
    for path in STATIC_DIR.iterdir():
        text = path.read_text()
        # Then none loads anything from the network (no CDN, works offline)
        assert "http://" not in text.replace("http://www.w3.org/2000/svg", ""), path.name
        assert "https://" not in text.replace("https://example.com", ""), path.name
        assert "//cdn" not in text and "@import" not in text, path.name


# --- path traversal ----------------------------------------------------------------------


@pytest.mark.parametrize("target", TRAVERSALS)
async def test_path_traversal_is_a_404(client: Client, target: str) -> None:
    # Given a server whose parent folders hold pyproject.toml and routes.py
    # When a request tries to climb out of the static folder
    status, _, body = await raw_get(client.port or 0, target)
    # Then it gets a 404 and no byte of any file outside the folder
    assert status == 404, target
    assert b"[project]" not in body and b"add_workbench_routes" not in body


def test_an_asset_name_is_one_plain_file_of_the_folder(tmp_path: Path) -> None:
    (tmp_path / "inside.js").write_text("ok")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "deep.js").write_text("deep")
    outside = tmp_path.parent / f"{tmp_path.name}-outside.txt"
    outside.write_text("secret")
    (tmp_path / "link-out.js").symlink_to(outside)
    (tmp_path / "link-in.js").symlink_to(tmp_path / "inside.js")
    try:
        assert resolve_asset("inside.js", tmp_path) == (tmp_path / "inside.js").resolve()
        assert resolve_asset("link-in.js", tmp_path) == (tmp_path / "inside.js").resolve()
        for name in ("link-out.js", "sub", "sub/deep.js", "../x", "..", ".", "", "/etc/passwd",
                     "sub\\deep.js", "C:\\x", "missing.js", "inside.js\x00", ".inside"):
            assert resolve_asset(name, tmp_path) is None, name
    finally:
        outside.unlink()


# --- the token guard ---------------------------------------------------------------------


async def test_without_a_token_every_workbench_path_is_a_401(guarded: Client) -> None:
    for path in ("/__motia/", "/__motia/static/app.js", "/__motia/api/health", "/__motia/nope"):
        response = await guarded.get(path)
        assert response.status == 401, path
        body = await response.json()
        assert body["error"]["type"] == "Unauthorized"
        assert "MOTIA_WORKBENCH_TOKEN" in body["error"]["message"]
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


async def test_encoded_prefixes_are_guarded_too(guarded: Client) -> None:
    for target in ("/%5F_motia/api/health", "/__motia%2fapi/health", "/__MOTIA/api/health"):
        status, _, body = await raw_get(guarded.port or 0, target)
        assert status in (401, 404), target
        assert b'"ok"' not in body


async def test_a_wrong_token_is_refused(guarded: Client) -> None:
    response = await guarded.get("/__motia/api/health", headers={"Authorization": "Bearer nope"})
    assert response.status == 401
    response = await guarded.get("/__motia/api/health?token=nope")
    assert response.status == 401


async def test_a_bearer_token_opens_the_api(guarded: Client) -> None:
    response = await guarded.get("/__motia/api/health", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status == 200
    assert await response.json() == {"ok": True}


async def test_a_query_token_sets_the_cookie_the_page_fetches_with(guarded: Client) -> None:
    # Given the page opened from a link carrying the token
    response = await guarded.get(f"/__motia/?token={TOKEN}")
    assert response.status == 200
    cookie = response.cookies[TOKEN_COOKIE]
    assert cookie.value == TOKEN
    assert cookie["httponly"] and cookie["samesite"] == "Strict" and cookie["path"] == "/__motia"
    # When the page fetches the admin API with only that cookie
    response = await guarded.get("/__motia/api/health")
    # Then it is let in
    assert response.status == 200


async def test_the_apps_own_routes_need_no_token(guarded: Client) -> None:
    response = await guarded.get("/orders")
    assert response.status == 200


async def test_no_token_configured_means_no_guard(client: Client) -> None:
    response = await client.get("/__motia/api/health")
    assert response.status == 200
    assert json.loads(await response.text()) == {"ok": True}
