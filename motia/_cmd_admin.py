"""`motia emit`, `motia state get|set|ls`, `motia dlq ls|replay`: talk to a running app.

Every command is a client of the admin API (/__motia/api/, notes/ADMIN_API.md) of the
app at `--url` (default $MOTIA_URL or http://127.0.0.1:3000), so it works the same
against a local `motia run` and a deployed replica (send MOTIA_WORKBENCH_TOKEN there).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from motia.errors import MotiaError, UsageError
from motia.runner import _json_input as json_input

DEFAULT_URL = "http://127.0.0.1:3000"
TIMEOUT = 30.0
#: keys per admin API request of `motia state ls GROUP`
PAGE = 1000


class AdminRequestFailed(MotiaError):
    """Raised when the running app answered an admin request with an error."""


def register(sub: Any) -> None:
    """Add `emit`, `state` and `dlq` to the `motia` parser."""
    emit = _command(sub, "emit", "publish an event into a running app")
    emit.add_argument("topic")
    emit.add_argument("data", metavar="JSON", help="the event data as JSON ('-' reads stdin)")
    emit.add_argument("--trace-id", help="trace id to carry (default: a new one)")
    emit.add_argument("--delay", metavar="DURATION",
                      help="publish it this much later, durably (30s, 5m, 2h, 1d; "
                           "a plain number is seconds)")
    emit.set_defaults(func=cmd_emit)

    state = sub.add_parser("state", help="read and write a running app's state")
    state_sub = state.add_subparsers(dest="action", metavar="get|set|ls", required=True)
    get = _command(state_sub, "get", "print one value as JSON")
    get.add_argument("group")
    get.add_argument("key")
    get.set_defaults(func=cmd_state_get)
    put = _command(state_sub, "set", "set one value (JSON)")
    put.add_argument("group")
    put.add_argument("key")
    put.add_argument("value", metavar="JSON", help="the value as JSON ('-' reads stdin)")
    put.set_defaults(func=cmd_state_set)
    ls = _command(state_sub, "ls", "list the groups, or the keys and values of GROUP")
    ls.add_argument("group", nargs="?")
    ls.add_argument("--prefix", help="with GROUP: only the keys that start with PREFIX")
    ls.set_defaults(func=cmd_state_ls)

    dlq = sub.add_parser("dlq", help="list and replay dead letters of a running app")
    dlq_sub = dlq.add_subparsers(dest="action", metavar="ls|replay", required=True)
    dls = _command(dlq_sub, "ls", "list dead letters")
    dls.add_argument("--step", help="only this step's")
    dls.add_argument("--json", action="store_true", help="print them as JSON")
    dls.set_defaults(func=cmd_dlq_ls)
    replay = _command(dlq_sub, "replay", "send dead letters back to their step")
    replay.add_argument("id", nargs="?", help="the dead letter's id (see `motia dlq ls`)")
    replay.add_argument("--all", action="store_true", help="replay every dead letter")
    replay.add_argument("--step", help="with --all: only this step's")
    replay.set_defaults(func=cmd_dlq_replay)


def _command(sub: Any, name: str, summary: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(name, help=summary, description=summary)
    parser.add_argument("--url", default=None,
                        help=f"the running app (default: $MOTIA_URL or {DEFAULT_URL})")
    return parser


# --- commands ---------------------------------------------------------------------------------


def cmd_emit(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"topic": args.topic, "data": parse_json(args.data, "JSON")}
    if args.trace_id:
        body["trace_id"] = args.trace_id
    if args.delay is not None:
        body["delay"] = _delay(args.topic, args.delay)
    sent = call(args, "POST", "/emit", body)
    if "delayed_until" in sent:
        due = datetime.fromtimestamp(sent["delayed_until"], UTC).isoformat(timespec="seconds")
        print(f"scheduled {args.topic} for {due}: event {sent['event_id']} "
              f"(trace {sent['trace_id']})")
    else:
        print(f"published {args.topic}: event {sent['event_id']} (trace {sent['trace_id']})")
    return 0


def _delay(topic: str, text: str) -> float:
    """`--delay` in seconds; UsageError naming the accepted forms (checked before sending)."""
    from motia.runner.workers._protocol import emit_delay

    try:
        return emit_delay(topic, float(text) if _is_number(text) else text,
                          where="motia emit --delay")
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def cmd_state_get(args: argparse.Namespace) -> int:
    value = call(args, "GET", f"/state/{_q(args.group)}/{_q(args.key)}")["value"]
    if value is None:  # the store reads a missing key as null: not a value to print
        print(f"motia state get: no key {args.key!r} in group {args.group!r} (list the "
              f"group's keys with `motia state ls {args.group}`)", file=sys.stderr)
        return 1
    print(_pretty(value))
    return 0


def cmd_state_set(args: argparse.Namespace) -> int:
    value = parse_json(args.value, "JSON")
    print(_pretty(call(args, "PUT", f"/state/{_q(args.group)}/{_q(args.key)}", value)["value"]))
    return 0


def cmd_state_ls(args: argparse.Namespace) -> int:
    if args.group is None:
        if args.prefix is not None:
            raise UsageError("motia state ls: --prefix needs a GROUP (the keys of which group?)")
        for group in call(args, "GET", "/state")["groups"]:
            print(group)
        return 0
    for line in _object_lines(_pages(args)):  # printed as pages arrive: a big group streams
        print(line)
    return 0


def _pages(args: argparse.Namespace) -> Iterator[tuple[str, Any]]:
    """(key, value) of GROUP in key order, a page of PAGE keys per request."""
    query = {"limit": str(PAGE)} | ({"prefix": args.prefix} if args.prefix is not None else {})
    while True:
        page = call(args, "GET", f"/state/{_q(args.group)}?{urllib.parse.urlencode(query)}")
        yield from page["items"].items()
        if page["cursor"] is None:
            return
        query["cursor"] = page["cursor"]


def _object_lines(items: Iterator[tuple[str, Any]]) -> Iterator[str]:
    """The lines `_pretty(dict(items))` prints, produced as the items arrive."""
    first = next(items, None)
    if first is None:
        yield "{}"
        return
    yield "{"
    pending = first
    for item in items:
        yield _member(*pending) + ","
        pending = item
    yield _member(*pending)
    yield "}"


def _member(key: str, value: Any) -> str:
    return "  " + json.dumps(key, ensure_ascii=False) + ": " + _pretty(value).replace("\n", "\n  ")


def cmd_dlq_ls(args: argparse.Namespace) -> int:
    path = "/dlq" + (f"?step={_q(args.step)}" if args.step else "")
    letters = call(args, "GET", path)["dead_letters"]
    if args.json:
        print(_pretty(letters))
        return 0
    if not letters:
        print("no dead letters")
        return 0
    print(f"{'ID':<32}  {'STEP':<20} {'TOPIC':<20} {'TRIES':>5}  {'WHEN':<19}  ERROR")
    for d in letters:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(d["time"]))
        error = f"{d['error'].get('type', '')}: {d['error'].get('message', '')}"
        print(f"{d['id']:<32}  {d['step']:<20} {_what(d):<20} {d['attempts']:>5}  {when}  "
              f"{error[:80]}")
    return 0


def _what(letter: dict[str, Any]) -> str:
    """The TOPIC column: the event's topic, or what else the letter holds."""
    if letter.get("raw") is not None:
        return f"{letter['topic'] or '?'} (raw)"
    return str(letter["topic"]) or "(cron tick)"


def cmd_dlq_replay(args: argparse.Namespace) -> int:
    if args.all == bool(args.id):
        raise UsageError("motia dlq replay: give one dead letter ID or --all "
                         "(see `motia dlq ls` for ids)")
    if args.all:
        path = "/dlq/replay" + (f"?step={_q(args.step)}" if args.step else "")
        answer = call(args, "POST", path)
        print(f"replayed {len(answer['replayed'])} dead letter(s)")
        for letter_id, why in (answer.get("kept") or {}).items():
            print(f"kept {letter_id}: {why}")
        return 0
    sent = call(args, "POST", f"/dlq/{_q(args.id)}/replay")
    print(f"replayed {sent['replayed']}: event {sent['event_id']} (trace {sent['trace_id']})")
    return 0


# --- plumbing -------------------------------------------------------------------------------


def parse_json(text: str, what: str) -> Any:
    """A JSON argument, or UsageError (exit 2) saying what is wrong with it."""
    if text == "-":
        text = sys.stdin.read()
    try:
        return json_input.loads(text)
    except json.JSONDecodeError as exc:  # a syntax error: most often the shell's quoting
        raise UsageError(
            f"{what} argument {text!r} is not valid JSON ({exc}); quote it for the shell, "
            "e.g. '{\"id\": \"42\"}' or '\"a string\"'"
        ) from None
    except ValueError as exc:
        raise UsageError(f"{what} argument {text!r} is not valid JSON ({exc})") from None


def base_url(args: argparse.Namespace) -> str:
    return (args.url or os.environ.get("MOTIA_URL") or DEFAULT_URL).rstrip("/")


def call(args: argparse.Namespace, method: str, path: str, body: Any = None) -> Any:
    """One admin API request; the JSON answer, or a MotiaError with the app's message."""
    url = base_url(args)
    data = None if body is None and method in ("GET", "DELETE") else json.dumps(body).encode()
    request = urllib.request.Request(f"{url}/__motia/api{path}", data=data, method=method)
    request.add_header("Content-Type", "application/json")
    token = os.environ.get("MOTIA_WORKBENCH_TOKEN")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        raise _failed(exc) from None
    except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
        reason = getattr(exc, "reason", exc)
        raise MotiaError(f"no Motia app at {url} ({reason}); start it with `motia run`, "
                         "or point --url / MOTIA_URL at it") from None


def _failed(exc: urllib.error.HTTPError) -> AdminRequestFailed:
    try:
        body = json.loads(exc.read() or b"{}")
        error = body.get("error", {})
        message = error.get("message") or exc.reason
        lines = [f"{message}"]
        lines += [f"  {e.get('path') or '/'}: {e.get('message')}" for e in body.get("errors", [])]
        return AdminRequestFailed("\n".join(lines))
    except (ValueError, AttributeError):
        return AdminRequestFailed(f"the app answered {exc.code} {exc.reason}")


def _q(part: str) -> str:
    """`part` for a URL path; UsageError when it is not text (argv bytes that are not UTF-8
    arrive as lone surrogates)."""
    try:
        return urllib.parse.quote(part, safe="")
    except UnicodeEncodeError:
        shown = part.encode("utf-8", "surrogateescape")
        raise UsageError(f"argument {shown!r} is not UTF-8 text; check the terminal's "
                         "encoding (LANG / LC_ALL)") from None


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)
