"""Named schemas as `#/components/schemas/...` entries, shared by OpenAPI and AsyncAPI.

Both documents keep reusable schemas under `components.schemas`, and both resolve a
local `$ref` such as `#/$defs/Line` against the whole document, not against the schema
that holds it. So every schema placed in the document has its local references rebased
onto its own location, and a schema with local references is always lifted into
`components` (under a generated name when it has none), where that location has a
short, plain pointer.
"""

from __future__ import annotations

import re
from typing import Any

from motia.compiler._names import unique
from motia.compiler._refs import has_local_refs
from motia.compiler.ir import App, JSONSchema

_COMPONENT_NAME = re.compile(r"[A-Za-z0-9._-]+")


class Components:
    """Collects the component schemas of one document as they are referenced."""

    def __init__(self, app: App, reserved: dict[str, JSONSchema] | None = None) -> None:
        self.schemas: dict[str, JSONSchema] = dict(reserved or {})
        self._named = [(name, schema) for name, schema in app.schemas
                       if _COMPONENT_NAME.fullmatch(name) and name not in self.schemas]
        for name, schema in self._named:
            self.schemas[name] = rebase(schema, name)

    def use(self, schema: JSONSchema, fallback_name: str) -> JSONSchema:
        """A `$ref` to `schema`'s component, or `schema` itself when it can stay inline."""
        for name, named in self._named:
            if named == schema:
                return ref(name)
        if not has_local_refs(schema):
            return schema
        name = self._fresh(fallback_name)
        self.schemas[name] = rebase(schema, name)
        return ref(name)

    def _fresh(self, wanted: str) -> str:
        return unique(re.sub(r"[^A-Za-z0-9._-]", "_", wanted) or "Schema", self.schemas)


def ref(name: str) -> JSONSchema:
    return {"$ref": f"#/components/schemas/{name}"}


def rebase(schema: Any, name: str) -> Any:
    """`schema` with each local `$ref` ("#..." ) pointed into component `name`."""
    if isinstance(schema, list):
        return [rebase(item, name) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: rebase(value, name) for key, value in schema.items()}
    target = schema.get("$ref")
    if isinstance(target, str) and target.startswith("#"):
        out["$ref"] = f"#/components/schemas/{name}{target[1:]}"
    return out
