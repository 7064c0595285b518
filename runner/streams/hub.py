"""The streams of one replica: handler calls in, changes out to every subscribed client.

`StreamHub` answers `ctx.streams.<name>.*` (the worker calls of PROTOCOL.md): it checks
the call (the step declares the stream, the item matches its schema), writes the item
(items.py), and publishes the change frame on the fan-out. Every replica's hub receives
every change back from the fan-out, puts each group's changes in version order (_log.py)
and offers the frame to each subscribed connection's outbox (_outbox.py), which never
blocks. `subscribe` gives a new subscriber its snapshot, or what it missed from the ring
when it resumes, with no change lost or repeated in between.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from typing import Any

from motia.compiler.ir import App, Step
from motia.errors import StreamError
from motia.runner._validation import compile_schema, violations
from motia.runner.streams import _log
from motia.runner.streams._frames import check_stream
from motia.runner.streams._outbox import Outbox
from motia.runner.streams._wire import Frame
from motia.runner.streams.base import FanOut
from motia.runner.streams.items import StreamItems, encode
from motia.runner.workers import _protocol as p

_string = json.encoder.encode_basestring_ascii
_WRITES = frozenset({p.OP_STREAM_SET, p.OP_STREAM_DELETE, p.OP_STREAM_SEND})


class Subscription:
    """One client's interest in a group (or one item of it); frames go to `outbox`."""

    __slots__ = ("_buffer", "group", "id", "outbox", "stream")

    def __init__(self, stream: str, group: str, id_: str | None, outbox: Outbox) -> None:
        self.stream, self.group, self.id, self.outbox = stream, group, id_, outbox
        self._buffer: list[_log.Change] | None = []  # until the snapshot is sent

    def deliver(self, change: _log.Change) -> None:
        if self.id is not None and change.id != self.id:
            return
        if self._buffer is not None:
            self._buffer.append(change)
        else:
            self.outbox.offer(change.frame)

    def go_live(self, skip: dict[str, int]) -> None:
        """Send what arrived while the snapshot was read, less what the snapshot held."""
        buffered, self._buffer = self._buffer or [], None
        for change in buffered:
            if change.id is None or change.version > skip.get(change.id, 0):
                self.outbox.offer(change.frame)


class StreamHub:
    """Streams for one app: the store's items, the fan-out, and the local subscribers."""

    def __init__(self, app: App, items: StreamItems, fanout: FanOut) -> None:
        self.items = items
        self.fanout = fanout
        self._logs = _log.GroupLogs()
        self._subs: dict[tuple[str, str], set[Subscription]] = {}
        self._timers: dict[tuple[str, str], asyncio.TimerHandle] = {}
        self.swap(app)

    def swap(self, app: App) -> None:
        """Check items against `app`'s streams from now on (motia dev reloads)."""
        self.app = app
        self._streams = {stream.name: stream for stream in app.streams}
        self._validators = {s.name: compile_schema(s.schema) for s in app.streams}

    @property
    def stream_names(self) -> frozenset[str]:
        return frozenset(self._streams)

    async def open(self) -> None:
        await self.fanout.open(self.receive)

    async def close(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        for subs in self._subs.values():
            for sub in subs:
                sub.outbox.close()
        await self.fanout.close()

    # --- handler calls ----------------------------------------------------------------------

    async def call(self, step: Step, op: str, args: list[Any]) -> Any:
        """Answer one `streams.*` call of `step`'s handler; raises StreamError."""
        if not args or not isinstance(args[0], str):
            raise StreamError(f"ctx.streams call {op!r} without a stream name")
        stream = self._stream(step, op, args[0])
        rest = args[1:]
        if op == p.OP_STREAM_SET:
            group, id_, data = _strings(stream, op, rest, 2, 3)
            return await self.set(stream, group, id_, data)
        if op == p.OP_STREAM_GET:
            group, id_ = _strings(stream, op, rest, 2, 2)
            found = await self.items.get(stream, group, id_)
            return None if found is None else found[1]
        if op == p.OP_STREAM_DELETE:
            group, id_ = _strings(stream, op, rest, 2, 2)
            return await self.delete(stream, group, id_)
        if op == p.OP_STREAM_GET_GROUP:
            (group,) = _strings(stream, op, rest, 1, 1)
            items = await self.items.get_group(stream, group)
            return {id_: data for id_, (_, data) in items.items()}
        if op == p.OP_STREAM_SEND:
            group, event = _strings(stream, op, rest, 1, 2)
            return await self.send(stream, group, event)
        raise StreamError(f"unknown stream operation {op!r}")

    async def set(self, stream: str, group: str, id_: str, data: Any) -> None:
        """Store the item and publish its `create`/`update` (data checked first)."""
        self._check(stream, group, id_, data)
        text = _encode(data)
        version, created = await self.items.write(stream, group, id_, text)
        op = "create" if created else "update"
        await self.fanout.publish(
            f'{{"stream":{_string(stream)},"group":{_string(group)},"id":{_string(id_)},'
            f'"op":"{op}","data":{text},"version":{version}}}')

    async def delete(self, stream: str, group: str, id_: str) -> None:
        version = await self.items.remove(stream, group, id_)
        if version is not None:
            await self.fanout.publish(encode({"stream": stream, "group": group, "id": id_,
                                              "op": "delete", "version": version}))

    async def send(self, stream: str, group: str, event: Any) -> None:
        """Publish an ephemeral `{"type", "data"}` to the group's subscribers (not stored)."""
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            raise StreamError(f"ctx.streams.{stream}.send({group!r}, event): the event must be "
                              f'{{"type": str, "data": ...}}, got {event!r}')
        text = _encode({"type": event["type"], "data": event.get("data")})
        version = await self.items.next_version(stream, group)
        await self.fanout.publish(
            f'{{"stream":{_string(stream)},"group":{_string(group)},"op":"event",'
            f'"data":{text},"version":{version}}}')

    def _stream(self, step: Step, op: str, name: str) -> str:
        try:
            check_stream(name, self._streams)
        except StreamError as exc:
            raise StreamError(f"ctx.streams.{name}: {exc}") from None
        if op in _WRITES and name not in step.streams:
            raise StreamError(
                f"step {step.name!r} cannot write stream {name!r}: add it to the step's "
                f"`streams: [{', '.join([*step.streams, name])}]` in motia.yaml")
        return name

    def _check(self, stream: str, group: str, id_: str, data: Any) -> None:
        validator = self._validators.get(stream)
        if validator is None:
            return
        found = violations(validator, data)
        if found:
            detail = "; ".join(f"{v['path'] or '/'}: {v['message']}" for v in found)
            name = self._streams[stream].schema_name
            raise StreamError(f"ctx.streams.{stream}.set({group!r}, {id_!r}): data does not "
                              f"match the stream's schema{f' {name}' if name else ''}: {detail}")

    # --- changes in from the fan-out ----------------------------------------------------------

    def receive(self, text: str) -> None:
        """A change from any replica: order it, keep it, offer it to the subscribers."""
        try:
            frame = json.loads(text)
            key = (frame["stream"], frame["group"])
            change = _log.Change(int(frame["version"]), frame.get("id"), Frame(text))
        except (ValueError, KeyError, TypeError):
            return  # not one of ours: another version's frame, or garbage on the channel
        log = self._logs.ensure(key, change.version - 1)
        self._dispatch(key, log.add(change))
        timer = self._timers.get(key)
        if log.waiting and timer is None:
            loop = asyncio.get_running_loop()
            self._timers[key] = loop.call_later(_log.GAP_WAIT, self._give_up, key)
        elif timer is not None and not log.waiting:  # the gap filled: stop waiting for it
            timer.cancel()
            del self._timers[key]

    def _give_up(self, key: tuple[str, str]) -> None:
        self._timers.pop(key, None)
        log = self._logs.get(key)
        if log is not None:
            self._dispatch(key, log.give_up())

    def _dispatch(self, key: tuple[str, str], changes: Iterable[_log.Change]) -> None:
        subs = self._subs.get(key)
        if not subs:
            return
        for change in changes:
            for sub in subs:
                sub.deliver(change)

    # --- subscribers ------------------------------------------------------------------------

    async def subscribe(self, sub: Subscription, since: int | None = None) -> str:
        """Register `sub` and offer it its first frame and what follows; returns how it began:
        "resumed" (what it missed after `since`, from the ring) or "snapshot"."""
        check_stream(sub.stream, self._streams)
        key = (sub.stream, sub.group)
        self._subs.setdefault(key, set()).add(sub)
        try:
            log = self._logs.get(key)
            missed = log.since(since) if log is not None and since is not None else None
            if missed is not None:
                sub.outbox.offer(encode({"stream": sub.stream, "group": sub.group, "id": sub.id,
                                         "op": "resume", "version": since}))
                for change in missed:
                    if sub.id is None or change.id == sub.id:
                        sub.outbox.offer(change.frame)
                sub.go_live({})
                return "resumed"
            await self._snapshot(sub, key, since)
            return "snapshot"
        except BaseException:
            self.unsubscribe(sub)
            raise

    async def _snapshot(self, sub: Subscription, key: tuple[str, str], since: int | None) -> None:
        counter = await self.items.version(sub.stream, sub.group)
        if sub.id is None:
            items = await self.items.get_group(sub.stream, sub.group)
        else:
            one = await self.items.get(sub.stream, sub.group, sub.id)
            items = {} if one is None else {sub.id: one}
        log = self._logs.ensure(key, counter)
        version = max([log.released, *(v for v, _ in items.values())])
        frame: dict[str, Any] = {
            "stream": sub.stream, "group": sub.group, "id": sub.id, "op": "snapshot",
            "items": [{"id": i, "data": d, "version": v} for i, (v, d) in sorted(items.items())]}
        if since is not None:
            frame["reason"] = (f"version {since} is outside the last {_log.RING} changes "
                               "this server keeps; here is the current state instead")
        frame["version"] = version  # last, always: sse.py reads the event id from the end
        sub.outbox.offer(encode(frame))
        sub.go_live({i: v for i, (v, _) in items.items()})

    def unsubscribe(self, sub: Subscription) -> None:
        key = (sub.stream, sub.group)
        subs = self._subs.get(key)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._subs[key]

    def subscribers(self) -> int:
        return sum(len(subs) for subs in self._subs.values())


def _strings(stream: str, op: str, args: list[Any], strings: int, total: int) -> list[Any]:
    """`args` checked: `total` of them, the first `strings` non-empty strings."""
    name = op.removeprefix("streams.")
    if len(args) != total:
        raise StreamError(f"ctx.streams.{stream}.{name} takes {total} argument(s), "
                          f"got {len(args)}")
    for index, value in enumerate(args[:strings]):
        if not isinstance(value, str) or not value:
            what = ("group", "id")[index]
            raise StreamError(f"ctx.streams.{stream}.{name}: the {what} must be a non-empty "
                              f"string, got {value!r}")
    return args


def _encode(data: Any) -> str:
    try:
        return encode(data)
    except (TypeError, ValueError, RecursionError) as exc:
        raise StreamError(f"stream data is not JSON: {exc}") from None
