"""A small driver for headless Chromium over the DevTools protocol (CDP).

Only what the Workbench browser tests need: open a page, navigate, evaluate JavaScript,
wait for a condition, click like a user (real mouse events at the element's centre),
type, and capture screenshots. It speaks CDP over aiohttp's WebSocket client, so the
tests need no extra Python package, only Debian's `chromium`.

    async with Browser.launch() as browser:
        page = await browser.new_page()
        await page.goto("http://127.0.0.1:3000/__motia/")
        await page.wait_for("document.body.dataset.ready === 'true'")
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import shutil
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp

LAUNCH_TIMEOUT = 20.0
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--disable-extensions", "--mute-audio", "--hide-scrollbars",
    "--no-default-browser-check", "--remote-debugging-port=0",
)


class CDPError(RuntimeError):
    """Raised when Chromium answers a command with an error or a script throws."""


def find_chromium() -> str | None:
    """The Chromium executable: $MOTIA_CHROMIUM, else the first known name on PATH."""
    explicit = os.environ.get("MOTIA_CHROMIUM")
    if explicit:
        return explicit if shutil.which(explicit) else None
    return next((found for name in CHROMIUM_NAMES if (found := shutil.which(name))), None)


class Browser:
    """One headless Chromium process and its browser-level DevTools connection."""

    def __init__(self, process: asyncio.subprocess.Process, profile: str) -> None:
        self.process = process
        self.profile = profile
        self._http: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._sessions: dict[str, Page] = {}
        self._reader: asyncio.Task[None] | None = None

    @classmethod
    def launch(cls, executable: str | None = None, **kwargs: Any) -> _Launch:
        return _Launch(executable or find_chromium() or "chromium", **kwargs)

    async def _connect(self) -> None:
        port_file = Path(self.profile) / "DevToolsActivePort"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + LAUNCH_TIMEOUT
        while not port_file.exists() or len(port_file.read_text().splitlines()) < 2:
            if self.process.returncode is not None or loop.time() > deadline:
                log = (Path(self.profile) / "chromium.log").read_text(errors="replace")[-2000:]
                raise CDPError(f"chromium did not start its DevTools endpoint:\n{log}")
            await asyncio.sleep(0.05)
        port, path = port_file.read_text().splitlines()[:2]
        self._http = aiohttp.ClientSession()
        self._ws = await self._http.ws_connect(f"ws://127.0.0.1:{port}{path}", max_msg_size=0)
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self._ws is not None
        async for message in self._ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            data = json.loads(message.data)
            if "id" in data:
                future = self._pending.pop(data["id"], None)
                if future and not future.done():
                    future.set_result(data)
            elif (page := self._sessions.get(data.get("sessionId", ""))) is not None:
                page._on_event(data["method"], data.get("params", {}))
        for future in self._pending.values():
            if not future.done():
                future.set_exception(CDPError("the DevTools connection closed"))

    async def send(self, method: str, params: dict[str, Any] | None = None,
                   session: str | None = None, timeout: float = 30.0) -> dict[str, Any]:
        """Send one command and return its result; raise CDPError on an error answer."""
        assert self._ws is not None, "browser not connected"
        ident = next(self._ids)
        message: dict[str, Any] = {"id": ident, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[ident] = future
        await self._ws.send_str(json.dumps(message))
        answer = await asyncio.wait_for(future, timeout)
        if "error" in answer:
            raise CDPError(f"{method}: {answer['error'].get('message')}")
        result: dict[str, Any] = answer.get("result", {})
        return result

    async def new_page(self, width: int = 1440, height: int = 900) -> Page:
        """A fresh tab of the given viewport size, with Page, Runtime and Log events on."""
        target = await self.send("Target.createTarget", {"url": "about:blank"})
        attached = await self.send("Target.attachToTarget", {"targetId": target["targetId"], "flatten": True})
        page = Page(self, attached["sessionId"], target["targetId"])
        self._sessions[page.session] = page
        for domain in ("Page", "Runtime", "Log"):
            await page.send(f"{domain}.enable")
        await page.send("Emulation.setDeviceMetricsOverride",
                        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
        return page

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.send("Browser.close", timeout=5)
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._reader, 5)
        if self._http is not None:
            await self._http.close()
        try:
            await asyncio.wait_for(self.process.wait(), 10)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
        shutil.rmtree(self.profile, ignore_errors=True)


class _Launch:
    """`async with Browser.launch() as browser`: start Chromium, always stop it."""

    def __init__(self, executable: str, extra_flags: tuple[str, ...] = ()) -> None:
        self.executable = executable
        self.extra_flags = extra_flags
        self.browser: Browser | None = None

    async def __aenter__(self) -> Browser:
        profile = tempfile.mkdtemp(prefix="motia-chromium-")
        log = (Path(profile) / "chromium.log").open("wb")
        try:
            process = await asyncio.create_subprocess_exec(
                self.executable, *FLAGS, *self.extra_flags, f"--user-data-dir={profile}", "about:blank",
                stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log,
            )
        finally:
            log.close()
        self.browser = Browser(process, profile)
        try:
            await self.browser._connect()
        except BaseException:
            await self.browser.close()
            raise
        return self.browser

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        if self.browser is not None:
            await self.browser.close()


class Page:
    """One tab. `errors` collects uncaught exceptions, console.error and CSP/JS log errors."""

    def __init__(self, browser: Browser, session: str, target: str) -> None:
        self.browser = browser
        self.session = session
        self.target = target
        self.errors: list[str] = []
        self.console: list[str] = []
        self._waiters: dict[str, list[asyncio.Future[dict[str, Any]]]] = {}

    async def send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return await self.browser.send(method, params, session=self.session)

    def _on_event(self, method: str, params: dict[str, Any]) -> None:
        for future in self._waiters.pop(method, []):
            if not future.done():
                future.set_result(params)
        if method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text", "")
            self.errors.append(f"uncaught: {text}")
        elif method == "Runtime.consoleAPICalled":
            text = " ".join(str(arg.get("value", arg.get("description", ""))) for arg in params["args"])
            self.console.append(f"{params['type']}: {text}")
            if params["type"] == "error":
                self.errors.append(f"console.error: {text}")
        elif method == "Log.entryAdded":
            entry = params["entry"]
            self.console.append(f"{entry['level']} {entry['source']}: {entry['text']}")
            if entry["level"] == "error" and entry["source"] in ("javascript", "security", "violation"):
                self.errors.append(f"{entry['source']}: {entry['text']}")

    def _expect(self, method: str) -> asyncio.Future[dict[str, Any]]:
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(method, []).append(future)
        return future

    async def goto(self, url: str, timeout: float = 15.0) -> None:
        """Load `url` and wait for its load event (a change of the #hash only loads nothing)."""
        loaded = self._expect("Page.loadEventFired")
        answer = await self.send("Page.navigate", {"url": url})
        if answer.get("errorText"):
            raise CDPError(f"navigating to {url}: {answer['errorText']}")
        if "loaderId" not in answer:  # same-document navigation: no load event comes
            self._waiters["Page.loadEventFired"].remove(loaded)
            return
        await asyncio.wait_for(loaded, timeout)

    async def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression (promises are awaited), as JSON."""
        answer = await self.send("Runtime.evaluate", {
            "expression": expression, "awaitPromise": True, "returnByValue": True, "userGesture": True,
        })
        if "exceptionDetails" in answer:
            details = answer["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise CDPError(f"script failed: {text}\n  in: {expression[:200]}")
        return answer["result"].get("value")

    async def wait_for(self, condition: str, timeout: float = 10.0, what: str | None = None) -> Any:
        """Poll the JavaScript `condition` until it is truthy; return its value."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        last_error = ""
        while True:
            try:
                value = await self.evaluate(condition)
                if value:
                    return value
            except CDPError as exc:
                last_error = f" (last error: {exc})"
            if loop.time() > deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {what or condition}{last_error}")
            await asyncio.sleep(0.05)

    async def wait_for_selector(self, selector: str, timeout: float = 10.0) -> None:
        await self.wait_for(f"document.querySelector({json.dumps(selector)}) !== null", timeout,
                            what=f"an element matching {selector!r}")

    async def text(self, selector: str) -> str:
        """The visible text of the first element matching `selector` ('' if none)."""
        value = await self.evaluate(
            f"(document.querySelector({json.dumps(selector)}) || {{}}).textContent || ''")
        return str(value)

    async def hover(self, selector: str, timeout: float = 10.0) -> None:
        """Move the mouse over the centre of the element (visible, scrolled into view)."""
        box = await self._centre(selector, timeout)
        await self.send("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": box["x"],
                                                     "y": box["y"]})

    async def click(self, selector: str, timeout: float = 10.0) -> None:
        """Wait for the element to be visible, scroll it into view and click its centre
        with real mouse events."""
        box = await self._centre(selector, timeout)
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            await self.send("Input.dispatchMouseEvent", {
                "type": kind, "x": box["x"], "y": box["y"], "button": "left",
                "clickCount": 0 if kind == "mouseMoved" else 1,
            })

    async def _centre(self, selector: str, timeout: float) -> dict[str, float]:
        box: dict[str, float] = await self.wait_for(f"""(() => {{
            const el = document.querySelector({json.dumps(selector)});
            if (!el) return null;
            el.scrollIntoView({{block: "center", inline: "center"}});
            const r = el.getBoundingClientRect();
            if (!r.width || !r.height) return null;
            return {{x: r.left + r.width / 2, y: r.top + r.height / 2}};
        }})()""", timeout, what=f"a visible element matching {selector!r}")
        return box

    async def fill(self, selector: str, value: str) -> None:
        """Replace the value of an input or textarea as typing would (input event fired)."""
        await self.evaluate(f"""(() => {{
            const el = document.querySelector({json.dumps(selector)});
            el.focus(); el.value = {json.dumps(value)};
            el.dispatchEvent(new Event("input", {{bubbles: true}}));
            el.dispatchEvent(new Event("change", {{bubbles: true}}));
        }})()""")

    async def screenshot(self, path: Path | str, full_page: bool = False) -> Path:
        """Save a PNG of the viewport (or of the whole page) to `path`."""
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            metrics = await self.send("Page.getLayoutMetrics")
            size = metrics["cssContentSize"]
            params["captureBeyondViewport"] = True
            params["clip"] = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
        data = await self.send("Page.captureScreenshot", params)
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(base64.b64decode(data["data"]))
        return target

    async def close(self) -> None:
        self.browser._sessions.pop(self.session, None)
        with contextlib.suppress(CDPError):
            await self.browser.send("Target.closeTarget", {"targetId": self.target})
