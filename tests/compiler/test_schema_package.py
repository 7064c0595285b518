"""schema/motia.schema.json ships in the package and documents every key for editors."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import jsonschema


def _schema() -> dict[str, Any]:
    text = resources.files("motia.schema").joinpath("motia.schema.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def test_the_schema_loads_from_the_package_and_is_draft_2020_12() -> None:
    schema = _schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


def _properties(node: Any, path: str = "") -> list[tuple[str, Any]]:
    found = []
    if isinstance(node, dict):
        for name, sub in node.get("properties", {}).items():
            found.append((f"{path}.{name}", sub))
        for key, sub in node.items():
            if key != "if":  # `if` conditions select a step type; they document nothing
                found += _properties(sub, f"{path}/{key}")
    elif isinstance(node, list):
        for index, sub in enumerate(node):
            found += _properties(sub, f"{path}[{index}]")
    return found


def test_every_property_has_a_description_for_editors() -> None:
    schema = _schema()
    defs = schema["$defs"]

    def described(sub: dict[str, Any]) -> bool:
        if "description" in sub:
            return True
        ref = sub.get("$ref", "")
        return ref.startswith("#/$defs/") and "description" in defs[ref.split("/")[-1]]

    missing = [path for path, sub in _properties(schema) if not described(sub)]
    assert missing == []


def test_step_types_allow_no_extra_keys() -> None:
    defs = _schema()["$defs"]
    for kind in ("api", "event", "cron", "noop"):
        assert defs[f"{kind}Step"]["additionalProperties"] is False


def test_the_adapter_choices_are_the_runtimes() -> None:
    # motia.yaml's `adapters:` enums (for editors) and the runtime's one list must agree
    from motia.compiler.ir import EVENT_ADAPTERS, STATE_ADAPTERS

    adapters = _schema()["$defs"]["adapters"]["properties"]
    assert tuple(adapters["events"]["enum"]) == EVENT_ADAPTERS
    assert tuple(adapters["state"]["enum"]) == STATE_ADAPTERS
