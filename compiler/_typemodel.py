"""JSON Schemas as types, one model for both generated files (motia_types.py, .d.ts).

Each object schema with properties becomes a record (a TypedDict / an interface) with
its required and optional keys; other schemas become expressions (`list[...]`, unions,
literals for `enum`/`const`). A subschema equal to a schema declared under `schemas:`
is written as that schema's name, wherever it was inlined. `additionalProperties`: an
object with properties is typed by its properties (extra keys are allowed but untyped);
one without properties is a mapping of its `additionalProperties` schema.

Names come from motia.yaml (`Order`, `order.placed` -> `OrderPlaced`, step
`create-order` -> `CreateOrder...`), made unique across the file; both renderers use
exactly these names, so a JSDoc `import('./motia-types.js').CreateOrderRequest` and a Python
`from motia_types import CreateOrderRequest` name the same thing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from motia.compiler._names import unique
from motia.compiler.ir import App, JSONSchema, Step

LiteralValue = str | int | bool | None


@dataclass(frozen=True)
class Ref:
    """A declared record or alias, by name."""

    name: str


@dataclass(frozen=True)
class Prim:
    """string, integer, number, boolean, null, any or never."""

    kind: str


@dataclass(frozen=True)
class Lit:
    values: tuple[LiteralValue, ...]


@dataclass(frozen=True)
class Seq:
    item: Type


@dataclass(frozen=True)
class Map:
    value: Type


@dataclass(frozen=True)
class Union:
    options: tuple[Type, ...]


Type = Ref | Prim | Lit | Seq | Map | Union
ANY, NEVER, STRING = Prim("any"), Prim("never"), Prim("string")


@dataclass(frozen=True)
class Field:
    name: str
    type: Type
    required: bool
    doc: str = ""


@dataclass(frozen=True)
class Record:
    """An object type with named fields."""

    name: str
    fields: tuple[Field, ...]
    doc: str = ""


@dataclass(frozen=True)
class Alias:
    """A name for any other type (an enum, a union, a list...)."""

    name: str
    type: Type
    doc: str = ""


Declaration = Record | Alias


@dataclass(frozen=True)
class StepTypes:
    """The types of one running step, each under its own unique name."""

    step: Step
    context: str  # its `ctx`
    emit: str  # the union of the emit records of its topics
    emits: tuple[str, ...] = ()  # the emit record of each topic it emits
    request: str | None = None  # api: its `req`
    body: Type = ANY
    params: str | None = None  # api: the record of its path parameters
    query: Type | None = None
    result: str | None = None  # api: what the handler may return
    responses: tuple[tuple[int, str, Type], ...] = ()  # (status, response dict name, body)
    data: str | None = None  # event: the alias of its `data`
    data_type: Type = ANY
    handler: str = ""  # the type of the whole handler function (Node.js)


@dataclass(frozen=True)
class TypeModel:
    app: App
    declarations: tuple[Declaration, ...]
    topics: tuple[tuple[str, str, Type], ...]  # (topic, its emit record's name, data type)
    steps: tuple[StepTypes, ...]


#: names the generated files import or declare themselves: a schema cannot take them
RESERVED = frozenset({
    "Any", "Literal", "Mapping", "Never", "NotRequired", "Protocol", "TypeAlias", "TypedDict",
    "ApiRequest", "Context", "Emit", "Response", "ResponseDict", "Record", "Promise",
    "Buffer", "State", "Logger", "Streams", "Stream",
})


def pascal(text: str) -> str:
    """`order.placed` -> `OrderPlaced`, `create-order` -> `CreateOrder`, `GreetingRequest` kept."""
    words = [w for w in re.split(r"[^A-Za-z0-9]+", text) if w]
    name = "".join(w[0].upper() + w[1:] for w in words) or "T"
    return name if name[0].isalpha() else f"T{name}"


def build(app: App) -> TypeModel:
    """The types of every schema, topic and running step of `app`."""
    return _Builder(app).model()


class _Builder:
    def __init__(self, app: App) -> None:
        self.app = app
        self.taken: set[str] = set(RESERVED)
        self.decls: dict[str, Declaration] = {}
        self.named = [(name, schema, self._name(pascal(name))) for name, schema in app.schemas]
        self.building: dict[int, str] = {}  # id(schema) -> name, while being built
        self.roots: list[JSONSchema] = []  # the schemas `#/...` refs point into

    def _name(self, base: str) -> str:
        name = unique(base, self.taken)
        self.taken.add(name)
        return name

    def model(self) -> TypeModel:
        for original, schema, name in self.named:
            self._declare(schema, name, f"The schema {original} of motia.yaml.", name)
        topics = tuple(self._topic(topic.name, topic.schema, topic.schema_name)
                       for topic in self.app.topics)
        emit_names = {topic: name for topic, name, _ in topics}
        data_types = {topic: data for topic, _, data in topics}
        steps = tuple(self._step(step, emit_names, data_types) for step in self.app.steps
                      if step.runs)
        return TypeModel(self.app, tuple(self.decls.values()), topics, steps)

    # --- schemas -----------------------------------------------------------------------

    def _declare(self, schema: Any, name: str, doc: str, where: str) -> Ref:
        """Declare `schema` under `name` (once) and return a reference to it; `where` says
        where it is in motia.yaml, for the names of what it contains."""
        if name in self.decls:
            return Ref(name)
        rooted = isinstance(schema, dict) and not self.roots
        if rooted:
            self.roots.append(schema)
        try:
            self.building[id(schema)] = name
            declared = self._declaration(schema, name, doc, where)
        finally:
            self.building.pop(id(schema), None)
            if rooted:
                self.roots.pop()
        self.decls[name] = declared
        return Ref(name)

    def _declaration(self, schema: Any, name: str, doc: str, where: str) -> Declaration:
        described = str(schema.get("description", "")) if isinstance(schema, dict) else ""
        doc = described or doc
        if _is_record(schema):
            return Record(name, self._fields(schema, name, where), doc)
        return Alias(name, self._type(schema, name, where, top=True), doc)

    def _fields(self, schema: JSONSchema, owner: str, where: str) -> tuple[Field, ...]:
        required = set(schema.get("required") or ())
        fields = []
        for key, sub in (schema.get("properties") or {}).items():
            doc = str(sub.get("description", "")) if isinstance(sub, dict) else ""
            kind = self._type(sub, owner + pascal(key), f"{where}.{key}")
            fields.append(Field(key, kind, key in required, doc))
        return tuple(fields)

    def _type(self, schema: Any, hint: str, where: str, *, top: bool = False) -> Type:
        if schema is True or schema == {}:
            return ANY
        if schema is False:
            return NEVER
        if not isinstance(schema, dict):
            return ANY
        if id(schema) in self.building and not top:
            return Ref(self.building[id(schema)])  # a recursive `#/$defs` reference
        if not top:
            for original, named, name in self.named:
                if schema == named:
                    return self._declare(named, name, f"The schema {original} of motia.yaml.",
                                         name)
        if isinstance(schema.get("$ref"), str):
            return self._local_ref(schema["$ref"], hint, where)
        if "const" in schema and _literal(schema["const"]):
            return Lit((schema["const"],))
        if isinstance(schema.get("enum"), list) and all(_literal(v) for v in schema["enum"]):
            return Lit(tuple(schema["enum"]))
        for key in ("anyOf", "oneOf"):
            if isinstance(schema.get(key), list):
                return _union(self._type(s, f"{hint}{i + 1}", f"{where} ({key}[{i}])")
                              for i, s in enumerate(schema[key]))
        if isinstance(schema.get("allOf"), list):
            return self._type(_merged(schema), hint, where)
        kinds = schema.get("type")
        if isinstance(kinds, list):
            return _union(self._type({**schema, "type": k}, hint, where) for k in kinds)
        return self._typed(schema, kinds, hint, where)

    def _typed(self, schema: JSONSchema, kind: Any, hint: str, where: str) -> Type:
        if kind in ("string", "integer", "number", "boolean", "null"):
            return Prim(kind)
        if kind == "array" or (kind is None and "items" in schema):
            items = schema.get("items")
            return Seq(self._type(items, f"{hint}Item", f"{where}[]")
                       if isinstance(items, dict) else ANY)
        if _is_record(schema):
            return self._declare(schema, self._name(hint), f"The object at {where}.", where)
        if kind == "object" or "additionalProperties" in schema:
            extra = schema.get("additionalProperties", True)
            return Map(self._type(extra, f"{hint}Value", f"{where}[*]")
                       if extra is not True else ANY)
        return ANY

    def _local_ref(self, ref: str, hint: str, where: str) -> Type:
        """`#/$defs/Address` inside the schema being declared: a record of its own."""
        target: Any = self.roots[-1] if self.roots else None
        for part in ref.removeprefix("#").strip("/").split("/") if ref.startswith("#") else []:
            target = target.get(part) if isinstance(target, dict) else None
        if not ref.startswith("#") or not isinstance(target, dict):
            return ANY  # refs were inlined by the compiler; anything left is opaque
        if id(target) in self.building:
            return Ref(self.building[id(target)])
        if _is_record(target):
            name = self._name(pascal(ref.rsplit("/", 1)[-1]))
            return self._declare(target, name, f"The object at {ref} of {where}.", name)
        return self._type(target, hint, where)

    # --- topics and steps --------------------------------------------------------------

    def _topic(self, topic: str, schema: Any, schema_name: str | None) -> tuple[str, str, Type]:
        base = pascal(topic)
        if schema is None:
            data: Type = ANY
        elif _is_record(schema) and schema_name is None:
            where = f"the data of topic {topic}"
            data = self._declare(schema, self._name(f"{base}Data"), f"The data of topic '{topic}'.",
                                 where)
        else:
            data = self._type(schema, f"{base}Data", f"the data of topic {topic}")
        return topic, self._name(f"{base}Emit"), data

    def _step(self, step: Step, emit_names: dict[str, str],
              data_types: dict[str, Type]) -> StepTypes:
        prefix = pascal(step.name)
        emits = tuple(emit_names[t] for t in step.emits if t in emit_names)
        base = StepTypes(step, self._name(f"{prefix}Context"), self._name(f"{prefix}Emit"),
                         emits, handler=self._name(f"{prefix}Handler"))
        if step.type == "event":
            data = _union(data_types.get(t, ANY) for t in step.subscribes)
            return replace(base, data=self._name(f"{prefix}Data"), data_type=data)
        if step.type == "api":
            return replace(base, **self._api(step, prefix))
        return base

    def _api(self, step: Step, prefix: str) -> dict[str, Any]:
        params = None
        if step.path_params:
            params = self._name(f"{prefix}Params")
            self.decls[params] = Record(params, tuple(Field(p, STRING, True)
                                                      for p in step.path_params),
                                        f"The path parameters of {step.method} {step.path}.")
        route = f"{step.method} {step.path}"
        responses = tuple((r.status, self._name(f"{prefix}Response{r.status}"),
                           self._payload(r.schema, f"{prefix}Response{r.status}Body",
                                         f"the {r.status} response body of {route}"))
                          for r in step.responses)
        query = step.query and self._payload(step.query, f"{prefix}Query", f"the query of {route}")
        return {"request": self._name(f"{prefix}Request"),
                "body": self._payload(step.body, f"{prefix}Body", f"the body of {route}"),
                "query": query or None,
                "params": params, "result": self._name(f"{prefix}Result"),
                "responses": responses}

    def _payload(self, schema: JSONSchema | None, hint: str, where: str) -> Type:
        if schema is None:
            return ANY
        for _, named, name in self.named:
            if schema == named:
                return Ref(name)
        if _is_record(schema):
            return self._declare(schema, self._name(hint), f"{where[0].upper()}{where[1:]}.",
                                 where)
        return self._type(schema, hint, where)


def _is_record(schema: Any) -> bool:
    return (isinstance(schema, dict) and isinstance(schema.get("properties"), dict)
            and bool(schema["properties"]) and schema.get("type", "object") == "object"
            and not any(k in schema for k in ("anyOf", "oneOf", "allOf", "$ref")))


def _literal(value: Any) -> bool:
    return value is None or isinstance(value, str | bool | int) and not isinstance(value, float)


def _union(types: Any) -> Type:
    options: list[Type] = []
    for item in types:
        for option in item.options if isinstance(item, Union) else (item,):
            if option not in options:
                options.append(option)
    if ANY in options:
        return ANY
    if len(options) == 1:
        return options[0]
    return Union(tuple(options)) if options else NEVER


def _merged(schema: JSONSchema) -> JSONSchema:
    """An `allOf` of object schemas as one object schema (anything else: the first part)."""
    parts = [p for p in schema["allOf"] if isinstance(p, dict)]
    rest = {k: v for k, v in schema.items() if k != "allOf"}
    if not all(_is_record(p) or p.get("type") == "object" for p in parts):
        return {**(parts[0] if parts else {}), **rest}
    properties: dict[str, Any] = dict(rest.get("properties") or {})
    required: list[str] = list(rest.get("required") or [])
    for part in parts:
        properties.update(part.get("properties") or {})
        required += [r for r in part.get("required") or [] if r not in required]
    return {**rest, "type": "object", "properties": properties, "required": required}
