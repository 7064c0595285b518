"""Fixtures of the Workbench browser tests: one headless Chromium per module, a fresh
tab per test (failing the test if the page logged a JavaScript or CSP error)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from cdp import Browser, Page
from wb_support import require_chromium


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    executable = require_chromium()
    async with Browser.launch(executable) as launched:
        yield launched


@pytest_asyncio.fixture(loop_scope="module")
async def page(browser: Browser) -> AsyncIterator[Page]:
    """A fresh tab; the test fails if the page logged a JavaScript or CSP error."""
    tab = await browser.new_page()
    try:
        yield tab
    finally:
        await tab.close()
    assert not tab.errors, "the page reported errors:\n" + "\n".join(tab.errors)
