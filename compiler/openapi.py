"""OpenAPI 3.1 of the API steps: what the gateway serves, for clients and API tools.

Each API step is one operation (`operationId` = step name, tags = its flows). Bodies,
queries and declared responses carry the step's JSON Schemas (OpenAPI 3.1 schemas are
JSON Schema 2020-12, so they go in unchanged); named schemas become components. The
error answers the gateway gives every route are documented too, in its one JSON error
shape: 400 for a body or query that breaks its schema (or is not JSON), 413 for an
oversized body, 500/502/504 when the handler fails, its worker dies or it times out.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from motia.compiler._components import Components, ref
from motia.compiler.ir import App, JSONSchema, Step

OPENAPI_VERSION = "3.1.0"
JSON = "application/json"

_ERROR_DETAIL: JSONSchema = {
    "type": "object",
    "required": ["type", "message", "id"],
    "properties": {
        "type": {"type": "string", "description": "the error class, e.g. HandlerError"},
        "message": {"type": "string"},
        "id": {"type": "string", "description": "also written to the server's log line"},
    },
}
_VIOLATION: JSONSchema = {
    "type": "object",
    "required": ["path", "message"],
    "properties": {
        "in": {"type": "string", "enum": ["body", "query"]},
        "path": {"type": "string", "description": "JSON pointer into the checked document"},
        "message": {"type": "string"},
    },
}
ERROR_SCHEMAS: dict[str, JSONSchema] = {
    "Error": {
        "type": "object",
        "description": "Every error the gateway answers with.",
        "required": ["error"],
        "properties": {"error": _ERROR_DETAIL},
    },
    "ValidationError": {
        "type": "object",
        "description": "A request that is not JSON or breaks its schemas; "
        "`errors` lists every violation.",
        "required": ["error"],
        "properties": {"error": _ERROR_DETAIL, "errors": {"type": "array", "items": _VIOLATION}},
    },
}
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_NO_BODY = frozenset({204, 205, 304})


def render_openapi(app: App) -> dict[str, Any]:
    """The OpenAPI 3.1 document of `app`'s API steps, ready for json.dump or yaml.dump."""
    components = Components(app, reserved=ERROR_SCHEMAS)
    paths: dict[str, dict[str, Any]] = {}
    for step in app.steps_of("api"):
        item = paths.setdefault(step.path or "/", {})
        item[(step.method or "GET").lower()] = _operation(step, components)
    document: dict[str, Any] = {
        "openapi": OPENAPI_VERSION,
        "info": {"title": app.name, "version": _version(app),
                 "description": f"The API steps of the Motia app {app.name}."},
        "tags": _tags(app),
        "paths": paths,
        "components": {"schemas": components.schemas},
    }
    return document


def _version(app: App) -> str:
    """The source hash: the document changes version exactly when motia.yaml changes."""
    return app.source_hash[:12] or "0"


def _tags(app: App) -> list[dict[str, str]]:
    used = {flow for step in app.steps_of("api") for flow in step.flows}
    tags = [_tag(flow.name, flow.description) for flow in app.flows if flow.name in used]
    declared = {flow.name for flow in app.flows}
    return tags + [_tag(name, "") for name in sorted(used - declared)]


def _tag(name: str, description: str) -> dict[str, str]:
    return {"name": name, "description": description} if description else {"name": name}


def _operation(step: Step, components: Components) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": step.name,
        "summary": (step.description.splitlines() or [step.name])[0],
        "tags": list(step.flows),
        "parameters": _path_parameters(step) + _query_parameters(step, components),
    }
    if step.description:
        operation["description"] = step.description
    if step.body is not None:
        schema = components.use(step.body, f"{step.name}.body")
        operation["requestBody"] = {"required": True, "content": {JSON: {"schema": schema}}}
    operation["responses"] = _responses(step, components)
    if step.emits:
        operation["x-motia-emits"] = list(step.emits)
    return operation


def _path_parameters(step: Step) -> list[dict[str, Any]]:
    return [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in step.path_params]


def _query_parameters(step: Step, components: Components) -> list[dict[str, Any]]:
    query = step.query or {}
    properties = query.get("properties")
    if not isinstance(properties, dict):
        return []
    required = query.get("required") or []
    parameters = []
    for name, schema in properties.items():
        parameter: dict[str, Any] = {
            "name": name, "in": "query", "required": name in required,
            "schema": components.use(schema, f"{step.name}.query.{name}")
            if isinstance(schema, dict) else {},
        }
        if isinstance(schema, dict) and isinstance(schema.get("description"), str):
            parameter["description"] = schema["description"]
        parameters.append(parameter)
    return parameters


def _responses(step: Step, components: Components) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for response in step.responses:
        schema = (components.use(response.schema, f"{step.name}.{response.status}")
                  if response.schema is not None else {})
        responses[str(response.status)] = _response(response.status, schema)
    if not any(200 <= r.status < 300 for r in step.responses):
        responses["200"] = _response(200, {})
    errors = {"400": ref("ValidationError")}
    if step.body is not None or (step.method or "").upper() in _BODY_METHODS:
        errors["413"] = ref("Error")
    errors |= {"500": ref("Error"), "502": ref("Error"), "504": ref("Error")}
    for status, schema in errors.items():
        responses.setdefault(status, _response(int(status), schema))
    return responses


def _response(status: int, schema: JSONSchema) -> dict[str, Any]:
    try:
        description = HTTPStatus(status).phrase
    except ValueError:
        description = f"status {status}"
    if status < 200 or status in _NO_BODY:
        return {"description": description}
    return {"description": description, "content": {JSON: {"schema": schema}}}
