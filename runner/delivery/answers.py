"""Idempotency on API steps: a repeated request gets the first answer, the handler runs once.

A webhook delivered twice must not create two invoices. For an API step with
`idempotency: {key: body.id, ttl: 24h}` (or `idempotent: true`: the `Idempotency-Key`
header) the gateway asks `ApiAnswers.answer` to run the request:

- an answer kept for the key is sent again (status, body, headers, plus the header
  `Idempotent-Replayed: true`) without running the handler;
- otherwise the request claims the key (a lease, leases.py) and runs; a concurrent
  repeat waits for that claim and then gets the answer it leaves, so it never runs in
  parallel with the first;
- an answer below 500 is kept for `ttl`; a failed first attempt (the handler raised or
  timed out, a 5xx, its events could not be published) keeps nothing, so the key is not
  poisoned and the client's retry runs the handler again.

A request without the key (an optional property missing) runs as usual. When the store
cannot be reached the request is refused with 503 rather than risk running twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from motia.compiler.ir import Step
from motia.runner._http_errors import error_response
from motia.runner.delivery.leases import Lease, LeaseKeeper
from motia.runner.state.base import StateStore

_log = logging.getLogger("motia.delivery")

REPLAYED_HEADER = "Idempotent-Replayed"
#: how often a repeat looks for the first request's answer (seconds)
POLL = 0.05
#: a repeat waits for the first request up to its step's timeout plus this (seconds)
WAIT_MARGIN = 5.0
#: headers not kept with an answer: they belong to each request, not to the answer
_PER_REQUEST = frozenset({"x-trace-id", "date", "server", "content-length"})

Run = Callable[[], Awaitable[web.Response]]


class ApiAnswers:
    """The first answer per (step, key), kept in the shared store (module docstring)."""

    def __init__(self, store: StateStore, leases: LeaseKeeper) -> None:
        self.store = store
        self.leases = leases

    async def answer(self, step: Step, key: str, run: Run) -> web.Response:
        assert step.idempotency is not None
        name = f"{step.name}:{key}"
        try:
            lease = await self._claim(step, name)
        except _Saved as saved:
            return replayed(saved.answer)
        except TimeoutError:
            return error_response(409, "Conflict", f"a request with the same idempotency key "
                                  f"to step {step.name!r} is still running; retry later")
        except Exception as exc:  # noqa: BLE001 -- the store's error names what is down
            return error_response(503, "ServiceUnavailable", f"step {step.name!r} cannot check "
                                  f"its idempotency key: {exc}")
        try:
            response = await run()
            if response.status < 500:
                await self._keep(name, response, step.idempotency.ttl)
            return response
        finally:
            await lease.release()

    async def _claim(self, step: Step, name: str) -> Lease:
        """The claim of `name`; raises _Saved when an answer exists (now, or once the
        request holding the claim finished), TimeoutError when that takes too long."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + step.timeout + WAIT_MARGIN
        while True:
            saved = await self.store.answer(name)
            if saved is not None:
                raise _Saved(saved)
            lease = await self.leases.acquire(f"api:{name}")
            if lease is not None:
                saved = await self.store.answer(name)  # kept between our look and our claim?
                if saved is None:
                    return lease
                await lease.release()
                raise _Saved(saved)
            if loop.time() >= deadline:
                raise TimeoutError(name)
            await asyncio.sleep(POLL)

    async def _keep(self, name: str, response: web.Response, ttl: float) -> None:
        body = response.body if isinstance(response.body, bytes) else b""
        answer = {"status": response.status, "body": body.decode("utf-8", errors="replace"),
                  "headers": {k: v for k, v in response.headers.items()
                              if k.lower() not in _PER_REQUEST}}
        try:
            await self.store.save_answer(name, answer, ttl)
        except Exception as exc:  # noqa: BLE001 -- the request itself succeeded
            _log.warning("could not keep the answer for idempotency key %s (%s); a repeat "
                         "of this request would run again", name, exc)


def replayed(answer: dict[str, Any]) -> web.Response:
    """The kept answer as a new response, marked as a replay."""
    headers = {str(k): str(v) for k, v in (answer.get("headers") or {}).items()}
    headers[REPLAYED_HEADER] = "true"
    return web.Response(status=int(answer["status"]), body=str(answer.get("body", "")).encode(),
                        headers=headers)


class _Saved(Exception):
    def __init__(self, answer: dict[str, Any]) -> None:
        super().__init__("saved")
        self.answer = answer
