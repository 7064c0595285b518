"""The validation middleware: an event whose data breaks its topic's schema never runs.

Emits are checked where they are made, but a broker accepts anything: another program,
an older replica with another schema, or a hand-made message can put data on a step's
queue that its handler was promised would never arrive. Checked again at delivery (the
compiled fast check makes a valid event cost a few microseconds), a violation is a dead
letter at once, with every error, and never an attempt; so is an event on a topic the
step does not subscribe to. An event this process built from data the same schemas
already judged (a checked emit on the memory bus) is not checked twice.
"""

from __future__ import annotations

from motia.compiler.ir import Step
from motia.runner.delivery.base import Delivery, Next, Reject
from motia.runner.topics import TopicSchemas, summary

SCHEMA_VIOLATION = "SchemaViolation"
UNKNOWN_TOPIC = "UnknownTopic"


class ValidateData:
    """Reject data that breaks the schema of the topic it came on (module docstring)."""

    def __init__(self, step: Step, topics: TopicSchemas) -> None:
        self.topics = topics
        self.subscribes = frozenset(step.subscribes)

    async def __call__(self, delivery: Delivery, call_next: Next) -> None:
        event = delivery.event
        if event.topic not in self.subscribes:
            raise Reject({"type": UNKNOWN_TOPIC, "traceback": "", "message": (
                f"step {delivery.step.name!r} does not subscribe to topic {event.topic!r} "
                f"(it subscribes to {', '.join(sorted(self.subscribes))})")})
        if event.validated_by is not self.topics and not self.topics.is_valid(
                event.topic, event.data):
            errors = self.topics.violations(event.topic, event.data)
            if errors:
                raise Reject({
                    "type": SCHEMA_VIOLATION, "traceback": "", "errors": errors,
                    "message": f"data on topic {event.topic!r} does not match its schema"
                               f"{self.topics.label(event.topic)}: {summary(errors)}"})
        await call_next(delivery)
