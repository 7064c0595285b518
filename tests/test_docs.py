"""docs/motia-yaml.md documents every key of motia.yaml the shipped JSON Schema accepts."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from motia.compiler.validate import motia_schema

DOC = Path(__file__).resolve().parent.parent / "docs" / "motia-yaml.md"


def _keys(schema: dict[str, Any]) -> set[str]:
    """Every property name declared anywhere in the schema (top level and every $def)."""
    names: set[str] = set()
    for node in [schema, *schema["$defs"].values()]:
        names |= set(node.get("properties", {}))
    return names


def test_every_key_of_motia_yaml_is_in_the_reference() -> None:
    documented = set(re.findall(r"`([a-z_]+)`", DOC.read_text("utf-8")))
    missing = sorted(_keys(motia_schema()) - documented)
    assert missing == [], f"add these keys to docs/motia-yaml.md: {', '.join(missing)}"
