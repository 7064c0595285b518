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

from motia.compiler.ir import App, Step
from motia.errors import EmitError
from motia.runner.topics import TopicSchemas, summary
from motia.runner.workers._protocol import bad_event_id, emit_delay
from motia.runner.workers.api import Emit


class EmitValidator:
    """Turns one `ctx.emit` argument into an `Emit`, or raises EmitError saying what is wrong."""

    def __init__(self, app: App) -> None:
        self.topics = TopicSchemas.of(app)

    def check(self, step: Step, event: Any) -> Emit:
        if not isinstance(event, dict) or not isinstance(event.get("topic"), str):
            raise EmitError(f'ctx.emit takes {{"topic": str, "data": ...}}, got {event!r}')
        topic, data, event_id = event["topic"], event.get("data"), event.get("id")
        if topic not in step.emits:
            raise EmitError(_undeclared(step, topic))
        problem = None if event_id is None else bad_event_id(topic, event_id)
        if problem is not None:
            raise EmitError(problem)
        delay = event.get("delay")
        if delay is not None:
            try:
                delay = emit_delay(topic, delay)
            except ValueError as exc:
                raise EmitError(str(exc)) from None
        if not self.topics.is_valid(topic, data):
            errors = self.topics.violations(topic, data)
            if errors:
                raise EmitError(f"ctx.emit({topic!r}): data does not match the topic's schema"
                                f"{self.topics.label(topic)}: {summary(errors)}")
        return Emit(topic, data, event_id, delay or None)

    def schemas_for(self, step: Step) -> dict[str, Any]:
        """{topic: its JSON schema, or None for any data} for every topic `step` emits."""
        return {name: self.topics.schema(name) for name in step.emits}


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
