"""The one judge of topic data: a validator per declared topic, compiled once per plan.

`ctx.emit` (the host's check of every emit), `motia emit` / the admin API, and delivery
(data someone else published straight to the broker) all ask the same `TopicSchemas`,
so an event is judged alike wherever it enters, with the same list of violations: JSON
pointers rooted at the event's data ("" for the data itself), jsonschema's messages.
"""

from __future__ import annotations

from typing import Any, ClassVar

from jsonschema import Draft202012Validator

from motia.compiler.ir import App, Topic
from motia.runner._validation import compile_schema, is_valid, violations


class TopicSchemas:
    """Validators of `app`'s topics, built on first use; `TopicSchemas.of(app)` shares one
    instance per plan between the runtime, the worker pool and the delivery pipelines."""

    _recent: ClassVar[list[tuple[App, TopicSchemas]]] = []

    def __init__(self, app: App) -> None:
        self._topics: dict[str, Topic] = {topic.name: topic for topic in app.topics}
        self._validators: dict[str, Draft202012Validator | None] = {}

    @classmethod
    def of(cls, app: App) -> TopicSchemas:
        """The instance for `app` (the last few plans are remembered: `motia dev` swaps)."""
        for known, schemas in cls._recent:
            if known is app:
                return schemas
        schemas = cls(app)
        cls._recent[:] = [(app, schemas), *cls._recent[:3]]
        return schemas

    def __contains__(self, topic: object) -> bool:
        return topic in self._topics

    def names(self) -> list[str]:
        return sorted(self._topics)

    def schema(self, topic: str) -> Any:
        """The topic's JSON Schema, None when it takes any data (or is not declared)."""
        declared = self._topics.get(topic)
        return declared.schema if declared is not None else None

    def label(self, topic: str) -> str:
        """How messages name the topic's schema: " Order" or "" when it has no name."""
        declared = self._topics.get(topic)
        return f" {declared.schema_name}" if declared is not None and declared.schema_name else ""

    def validator(self, topic: str) -> Draft202012Validator | None:
        try:
            return self._validators[topic]
        except KeyError:
            validator = self._validators[topic] = compile_schema(self.schema(topic))
            return validator

    def is_valid(self, topic: str, data: Any) -> bool:
        validator = self.validator(topic)
        return validator is None or is_valid(validator, data)

    def violations(self, topic: str, data: Any) -> list[dict[str, Any]]:
        """Every way `data` breaks the topic's schema, as {"path", "message"}; [] if none."""
        validator = self.validator(topic)
        return [] if validator is None else violations(validator, data)


def summary(errors: list[dict[str, Any]]) -> str:
    """`/amount: 0 is less than the minimum of 1; /id: ...` (the data itself is `/`)."""
    return "; ".join(f"{e['path'] or '/'}: {e['message']}" for e in errors)
