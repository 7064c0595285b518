"""Answering a handler's calls: `ctx.emit` checked against the plan, `ctx.state.*` from the
store, `ctx.streams.*` by the stream hub, `ctx.logger` lines into the Logger. Mixed into WorkerProcess (it uses its pending
invocations, its owner and its `_send`)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from motia.errors import HandlerError, MotiaError
from motia.runner.logs import LEVELS, LogRecord
from motia.runner.workers import _protocol as p
from motia.runner.workers.api import InvocationContext

if TYPE_CHECKING:
    from motia.compiler.ir import Step
    from motia.runner.workers._process import _Invocation
    from motia.runner.workers._supervisor import Supervisor

_STATE_METHODS = {
    p.OP_STATE_GET: "get", p.OP_STATE_SET: "set", p.OP_STATE_DELETE: "delete",
    p.OP_STATE_GET_GROUP: "get_group", p.OP_STATE_CLEAR: "clear", p.OP_STATE_INCR: "incr",
    p.OP_STATE_UPDATE: "update", p.OP_STATE_LIST: "list",
}


def _public_type(exc: Exception) -> str:
    """The name handlers know the error by: the first public class of its hierarchy (a
    store's private StateError subclass is a StateError to them)."""
    return next(c.__name__ for c in type(exc).__mro__ if not c.__name__.startswith("_"))


class HandlerCalls:
    """The `call` and `log` messages of one worker, answered with `reply` frames."""

    owner: Supervisor
    loop: asyncio.AbstractEventLoop
    _pending: dict[int, _Invocation]
    _cancelling: dict[int, tuple[asyncio.TimerHandle, InvocationContext]]
    _tasks: set[asyncio.Task[None]]

    @property
    def step(self) -> Step:
        raise NotImplementedError

    def _send(self, data: bytes) -> None:
        raise NotImplementedError

    def _on_call(self, message: dict[str, Any]) -> None:
        cid, op, args = message.get("cid"), message.get("op"), message.get("args") or []
        inv = self._pending.get(message.get("id"))  # type: ignore[arg-type]
        if inv is None:
            self._reply_error(cid, "MotiaError", "this invocation is over (it timed out or was "
                                                 "cancelled); the call was ignored")
        elif op == p.OP_EMIT:
            # only a check: the worker keeps the emit and returns it with its result
            try:
                self.owner.validator.check(self.step, args[0] if args else None)
            except MotiaError as exc:
                self._reply_error(cid, type(exc).__name__, str(exc))
                return
            self._reply(cid, None)
        elif isinstance(op, str) and op in _STATE_METHODS:
            task = self.loop.create_task(self._state_call(cid, inv.ctx, op, args))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        elif op == p.OP_NEXT:
            task = self.loop.create_task(self._next_call(cid, inv.ctx))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        elif op in p.STREAM_OPS:
            task = self.loop.create_task(self._stream_call(cid, op, args))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        else:
            self._reply_error(cid, "MotiaError", f"unknown operation {op!r}")

    def _accept_emits(self, inv: _Invocation, emits: Any) -> HandlerError | None:
        """Check the emits a result carries (the host has the last word, whatever the
        worker's fast check said); the error that fails the invocation, or None."""
        step = self.step
        if not isinstance(emits, list):
            return HandlerError(step.name, f"the worker sent emits that are not a list: {emits!r}",
                                type="ProtocolError")
        accepted = []
        check = self.owner.validator.check
        try:
            for event in emits:
                accepted.append(check(step, event))
        except MotiaError as exc:
            return HandlerError(step.name, str(exc), type=type(exc).__name__)
        inv.emits = accepted
        after_emit = self.owner.hooks.after_emit
        for emit in accepted:
            after_emit(step.name, inv.ctx, emit.topic, emit.data)
        return None

    async def _state_call(self, cid: Any, ctx: InvocationContext, op: str, args: list[Any]) -> None:
        method = getattr(self.owner.store, _STATE_METHODS[op])
        try:
            value = await method(*args)
        except Exception as exc:  # noqa: BLE001 - store errors go back to the handler that asked
            self._reply_error(cid, _public_type(exc), str(exc))
            return
        self.owner.hooks.after_state_op(self.step.name, ctx, op, args)
        self._reply(cid, value)

    async def _stream_call(self, cid: Any, op: str, args: list[Any]) -> None:
        streams = self.owner.pool.streams
        if streams is None:
            self._reply_error(cid, "StreamError", "this app declares no streams: add them "
                                                  "under `streams:` in motia.yaml")
            return
        try:
            value = await streams.call(self.step, op, args)
        except Exception as exc:  # noqa: BLE001 - the handler that asked gets the error
            self._reply_error(cid, type(exc).__name__, str(exc))
            return
        self._reply(cid, value)

    async def _next_call(self, cid: Any, ctx: InvocationContext) -> None:
        """A middleware's `next()`: the rest of the chain, run by the gateway (its
        `InvocationContext.next`), answered with the response it made."""
        if ctx.next is None:
            self._reply_error(cid, "MotiaError", "next() is only given to a middleware")
            return
        try:
            value = await ctx.next()
        except Exception as exc:  # noqa: BLE001 - the middleware that asked gets the error
            self._reply_error(cid, _public_type(exc), str(exc))
            return
        self._reply(cid, value)

    def _reply(self, cid: Any, value: Any) -> None:
        self._send(p.frame({"type": p.REPLY, "cid": cid, "ok": True, "value": value}))

    def _reply_error(self, cid: Any, type_: str, message: str) -> None:
        self._send(p.frame({"type": p.REPLY, "cid": cid, "ok": False,
                            "error": {"type": type_, "message": message}}))

    def _on_log(self, message: dict[str, Any]) -> None:
        inv_id = message.get("id")
        inv = self._pending.get(inv_id)  # type: ignore[arg-type]
        if inv is not None:
            ctx: InvocationContext | None = inv.ctx
        else:  # a line logged after its invocation timed out
            ctx = self._cancelling.get(inv_id, (None, None))[1]  # type: ignore[arg-type]
        level = message.get("level")
        self.owner.logger.emit(LogRecord(
            level=level if level in LEVELS else "info", msg=str(message.get("msg", "")),
            data=message.get("data"), step=self.step.name,
            trace_id=ctx.trace_id if ctx else None, event_id=ctx.event_id if ctx else None))
