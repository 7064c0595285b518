"""The compiled fast check agrees with jsonschema: it never calls invalid data valid."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from motia.runner._validation import compile_schema, is_valid, violations
from motia.runner._validation_fast import compile_check, fast_check

ORDER = {"type": "object", "required": ["id"], "properties": {"id": {"type": "integer"}}}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.floats(-5, 5) | st.just(float("nan"))
    | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["a", "b", "c"]), inner, max_size=3),
    max_leaves=8,
)

type_names = st.sampled_from(["null", "boolean", "integer", "number", "string", "array",
                              "object"])


def schemas() -> st.SearchStrategy[Any]:
    leaf = st.one_of(
        st.just(True), st.just(False),
        st.fixed_dictionaries({}, optional={
            "type": type_names | st.lists(type_names, min_size=1, max_size=3),
            "minLength": st.integers(0, 3), "maxLength": st.integers(0, 3),
            "minimum": st.integers(-3, 3) | st.floats(-3, 3),
            "exclusiveMaximum": st.integers(-3, 3),
            "minItems": st.integers(0, 2), "maxItems": st.integers(0, 2),
            "title": st.just("t"),
        }),
    )
    return st.recursive(leaf, lambda inner: st.fixed_dictionaries({}, optional={
        "type": type_names,
        "properties": st.dictionaries(st.sampled_from(["a", "b", "c"]), inner, max_size=3),
        "required": st.lists(st.sampled_from(["a", "b", "c"]), max_size=3),
        "additionalProperties": inner,
        "items": inner,
    }), max_leaves=6)


@settings(max_examples=400, deadline=None)
@given(schemas(), json_values)
def test_fast_check_never_accepts_what_jsonschema_rejects(schema: Any, value: Any) -> None:
    # Given a schema of the compiled keywords and any JSON value
    validator = Draft202012Validator(schema)
    check = fast_check(validator)
    # When the fast check says valid, Then jsonschema agrees
    if check is not None and check(value):
        assert validator.is_valid(value)
    # And the public answer is always jsonschema's
    assert is_valid(validator, value) == validator.is_valid(value)


def test_common_schema_is_compiled_and_accepts_valid_data() -> None:
    # Given the usual object schema, When valid data is checked, Then the fast path decides
    check = fast_check(Draft202012Validator(ORDER))
    assert check is not None and check({"id": 1}) and check({"id": 2.0, "x": [1]})
    assert not check({"id": "1"}) and not check({}) and not check({"id": True})


def test_schemas_beyond_the_subset_fall_back_to_jsonschema() -> None:
    # Given keywords the fast path does not compile (formats, refs, enums)
    for schema in ({"type": "string", "format": "email"}, {"$ref": "#/$defs/x", "$defs": {"x": {}}},
                   {"enum": [1, 2]}, {"$schema": "http://json-schema.org/draft-07/schema#"}):
        # Then there is no fast check and jsonschema decides
        assert fast_check(Draft202012Validator(schema)) is None
    email = compile_schema({"type": "string", "format": "email"})
    assert email is not None
    assert violations(email, "nope") == [{"path": "", "message": "'nope' is not a 'email'"}]


def test_unusual_python_types_are_left_to_jsonschema() -> None:
    # Given a tuple where an array is declared (jsonschema: not an array)
    validator = Draft202012Validator({"type": "array"})
    check = fast_check(validator)
    # Then the fast check is "not sure" and the answer is jsonschema's
    assert check is not None and not check((1, 2))
    assert is_valid(validator, (1, 2)) is False


NODE_CHECK = """
const { compileCheck } = require(process.argv[1]);
const cases = JSON.parse(require('fs').readFileSync(0, 'utf8'));
process.stdout.write(JSON.stringify(cases.map(([schema, value]) => {
  const check = compileCheck(schema);
  return check === null ? null : check(value);
})));
"""
NODE_WORKER = Path(__file__).parents[2] / "runner" / "workers" / "node_worker.js"

json_text = st.text(max_size=3) | st.sampled_from(["\U0001f600", "\U0001f600\U0001f600", "é"])
plain_json = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.floats(-5, 5, allow_nan=False)
    | json_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["a", "b", "c", "constructor"]), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=10, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # `node` is a constant
@given(st.lists(st.tuples(schemas(), plain_json), min_size=50, max_size=50))
def test_the_node_workers_check_gives_the_python_checks_answers(node: str, cases: list[Any]) -> None:
    # Given schemas and JSON values, as a worker receives them (through JSON)
    cases = json.loads(json.dumps(cases))
    # When node_worker.js's port of the check judges them
    out = subprocess.run([node, "-e", NODE_CHECK, str(NODE_WORKER)], input=json.dumps(cases),
                         capture_output=True, text=True, check=True, timeout=30)
    verdicts = json.loads(out.stdout)
    # Then it compiles exactly the schemas Python compiles and gives the same answers, so it
    # never calls valid what jsonschema rejects
    for (schema, value), verdict in zip(cases, verdicts, strict=True):
        check = compile_check(schema)
        assert verdict == (None if check is None else check(value)), (schema, value)
        if verdict:
            assert Draft202012Validator(schema).is_valid(value), (schema, value)
