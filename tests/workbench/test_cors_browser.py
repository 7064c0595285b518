"""`cors:` against a real browser: headless Chromium on one origin fetches the gateway on
another with a custom header, so it sends a real preflight first.

The page is served by a tiny aiohttp server on its own port (`http://127.0.0.1:<port>`
is the allowed origin, `http://localhost:<port>`, the same page, an origin that is not).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from aiohttp import web
from cdp import Browser, Page

from motia.testing import TestApp

pytestmark = pytest.mark.asyncio(loop_scope="module")

PAGE = "<!doctype html><html><head><title>other origin</title></head><body>hi</body></html>"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def page_port() -> AsyncIterator[int]:
    async def index(request: web.Request) -> web.Response:
        return web.Response(text=PAGE, content_type="text/html")

    server = web.Application()
    server.router.add_get("/", index)
    runner = web.AppRunner(server, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield runner.addresses[0][1]
    finally:
        await runner.cleanup()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def api(tmp_path_factory: pytest.TempPathFactory, page_port: int) -> AsyncIterator[TestApp]:
    root: Path = tmp_path_factory.mktemp("cors")
    (root / "steps").mkdir()
    (root / "steps" / "orders.py").write_text(
        "async def handler(req, ctx):\n"
        "    return {'status': 201, 'body': {'key': req.headers['X-Api-Key'],"
        " 'order': req.body}}\n")
    (root / "motia.yaml").write_text(f"""
version: 1
app: cors-browser
cors:
  origins: [http://127.0.0.1:{page_port}]
  headers: [content-type, x-api-key]
steps:
  orders: {{type: api, method: POST, path: /orders, handler: steps/orders.py}}
""")
    async with TestApp(root / "motia.yaml") as app:
        yield app


FETCH = """
fetch(%s + '/orders', {method: 'POST', headers: %s, body: JSON.stringify({id: 7})})
  .then(async (r) => ({status: r.status, body: await r.json(), trace: r.headers.get('x-trace-id')}))
  .catch((e) => ({failed: String(e)}))
"""


async def fetch_from(page: Page, api: TestApp, headers: dict[str, str]) -> dict[str, object]:
    result: dict[str, object] = await page.evaluate(FETCH % (json.dumps(api.url), json.dumps(headers)))
    return result


async def test_a_cross_origin_fetch_with_a_custom_header_passes_the_preflight(
        browser: Browser, api: TestApp, page_port: int) -> None:
    tab = await browser.new_page()
    try:
        await tab.goto(f"http://127.0.0.1:{page_port}/")
        result = await fetch_from(tab, api, {"Content-Type": "application/json",
                                             "X-Api-Key": "k-123"})
        assert result["status"] == 201, result
        assert result["body"] == {"key": "k-123", "order": {"id": 7}}
        assert result["trace"]  # exposed by `expose:`'s default, readable by the page
    finally:
        await tab.close()


async def test_a_header_cors_does_not_allow_is_refused_by_the_browser(
        browser: Browser, api: TestApp, page_port: int) -> None:
    tab = await browser.new_page()
    try:
        await tab.goto(f"http://127.0.0.1:{page_port}/")
        before = len([r for r in api.logs if r.step == "orders"])
        result = await fetch_from(tab, api, {"Content-Type": "application/json",
                                             "X-Other": "no"})
        assert result == {"failed": "TypeError: Failed to fetch"}
        # the preflight stopped it: the handler never ran
        assert len([r for r in api.logs if r.step == "orders"]) == before
    finally:
        await tab.close()


async def test_another_origin_is_refused_by_the_browser(
        browser: Browser, api: TestApp, page_port: int) -> None:
    tab = await browser.new_page()
    try:
        await tab.goto(f"http://localhost:{page_port}/")
        result = await fetch_from(tab, api, {"Content-Type": "application/json",
                                             "X-Api-Key": "k-123"})
        assert result == {"failed": "TypeError: Failed to fetch"}
    finally:
        await tab.close()
