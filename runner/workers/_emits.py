"""Checking `ctx.emit` calls against the plan: the topic is declared, the data fits its schema.

The host is the authority: every emit a worker returns with its result is checked here
before anyone may publish it. Workers get the schemas of the topics their step emits
(`schemas_for`) and accept at once what the compiled fast check calls valid, so the
common emit costs no round trip; anything else they ask the host about (the `emit` call),
which answers with jsonschema's full list of errors. Validators are built once per topic.
"""

from __future__ import annotations

import difflib
from typing import Any

from jsonschema import Draft202012Validator

from motia.compiler.ir import App, Step
from motia.errors import EmitError
from motia.runner._validation import compile_schema, is_valid
from motia.runner.workers.api import Emit


class EmitValidator:
    """Turns one `ctx.emit` argument into an `Emit`, or raises EmitError saying what is wrong."""

    def __init__(self, app: App) -> None:
        self._topics = {topic.name: topic for topic in app.topics}
        self._validators: dict[str, Draft202012Validator | None] = {}

    def check(self, step: Step, event: Any) -> Emit:
        if not isinstance(event, dict) or not isinstance(event.get("topic"), str):
            raise EmitError(f'ctx.emit takes {{"topic": str, "data": ...}}, got {event!r}')
        topic, data = event["topic"], event.get("data")
        if topic not in step.emits:
            raise EmitError(_undeclared(step, topic))
        validator = self._validator(topic)
        if validator is not None and not is_valid(validator, data):
            errors = sorted(validator.iter_errors(data),
                            key=lambda e: [str(part) for part in e.absolute_path])
            if errors:
                detail = "; ".join(f"{_pointer(e.absolute_path)}: {e.message}" for e in errors)
                name = self._topics[topic].schema_name
                schema = f" {name}" if name else ""
                raise EmitError(f"ctx.emit({topic!r}): data does not match the topic's schema"
                                f"{schema}: {detail}")
        return Emit(topic, data)

    def schemas_for(self, step: Step) -> dict[str, Any]:
        """{topic: its JSON schema, or None for any data} for every topic `step` emits."""
        schemas: dict[str, Any] = {}
        for name in step.emits:
            declared = self._topics.get(name)
            schemas[name] = declared.schema if declared is not None else None
        return schemas

    def _validator(self, topic: str) -> Draft202012Validator | None:
        try:
            return self._validators[topic]
        except KeyError:
            declared = self._topics.get(topic)
            schema = declared.schema if declared is not None else None
            # the same validator (formats checked) as request bodies and `motia emit`, so an
            # event is judged alike wherever it enters
            validator = compile_schema(schema)
            self._validators[topic] = validator
            return validator


def _undeclared(step: Step, topic: str) -> str:
    if not step.emits:
        return (f"step {step.name!r} cannot emit {topic!r}: it declares no emits (add "
                f"`emits: [{topic}]` to the step in motia.yaml)")
    close = difflib.get_close_matches(topic, step.emits, n=1)
    hint = (f"; did you mean {close[0]!r}?" if close
            else " (add it to the step's emits in motia.yaml)")
    allowed = ", ".join(step.emits)
    return (f"step {step.name!r} cannot emit {topic!r}: it is not in the step's emits "
            f"[{allowed}]{hint}")


def _pointer(path: Any) -> str:
    """A JSON pointer (RFC 6901) for an error location; the whole document is "/"."""
    parts = [str(p).replace("~", "~0").replace("/", "~1") for p in path]
    return "/" + "/".join(parts)
