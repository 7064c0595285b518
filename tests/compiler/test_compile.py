"""compile_project on valid projects: the App it builds, the warnings it gives."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from projects import SPEC_EXAMPLE, SPEC_FILES, VALID, compiled, errors_of, write_project

from motia.compiler import compile_project
from motia.compiler.ir import Backoff, Handler, Response
from motia.errors import ProjectInvalid, UsageError


@pytest.fixture
def spec_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return write_project(tmp_path, SPEC_EXAMPLE, SPEC_FILES, handlers=())


def test_the_spec_example_compiles_into_a_resolved_app(spec_project: Path) -> None:
    # Given the SPEC section 3 example, When compiled
    app = compiled("motia.yaml").app
    # Then names, root and source are as the user gave them
    assert (app.name, app.root, app.source, app.version) == (
        "billing", str(spec_project.parent), "motia.yaml", 1)
    assert [s.name for s in app.steps] == [
        "stripe-webhook", "create-invoice", "nightly-cleanup", "accountant-review"]
    webhook, invoice, cleanup, review = app.steps
    # And the API step has its route, schemas resolved by name, responses by status
    assert (webhook.method, webhook.path, webhook.emits) == (
        "POST", "/stripe/webhook", ("payment.received",))
    assert webhook.body == dict(app.schemas)["Payment"]
    assert webhook.responses == (Response(200, {"type": "object"}),)
    assert webhook.handler == Handler("steps/stripe_webhook.py", "handler", "python")
    # And durations, sizes and defaults are merged in, step settings winning
    assert (invoice.timeout, invoice.retries, invoice.memory) == (10.0, 5, 512 * 1024 * 1024)
    assert invoice.backoff == Backoff(initial=0.5, factor=2.0, max=60.0)
    assert invoice.handler == Handler("steps/create_invoice.js", "handler", "node")
    assert (cleanup.cron, cleanup.timeout, cleanup.retries) == ("0 3 * * *", 30.0, 3)
    assert (review.type, review.handler, review.runs) == ("noop", None, False)
    # And the $ref file is inlined
    invoice_topic = app.topic("invoice.created")
    assert invoice_topic.schema_name == "Invoice"
    assert invoice_topic.schema is not None and invoice_topic.schema["required"] == ["number"]
    assert [f.name for f in app.flows] == ["billing"]
    assert len(app.source_hash) == 64


def test_the_example_app_at_the_repo_root_compiles(repo: Path) -> None:
    result = compile_project(repo / "motia.yaml")
    assert result.app.steps and result.app.root == str(repo)
    assert result.warnings == ()


def test_the_init_template_compiles_without_warnings() -> None:
    template = Path(__file__).resolve().parents[2] / "motia" / "project_template"
    result = compile_project(template / "motia.yaml")
    assert {s.type for s in result.app.steps} == {"api", "event", "cron", "noop"}
    assert {s.handler.language for s in result.app.steps if s.handler} == {"python", "node"}
    assert result.warnings == ()


def test_a_folder_means_the_motia_yaml_inside_it(spec_project: Path) -> None:
    app = compile_project(".").app
    assert app.source == "motia.yaml" and app.root == str(spec_project.parent)


def test_a_missing_project_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"nope\.yaml: no such file; run `motia init DIR`"):
        compile_project(tmp_path / "nope.yaml")


def test_handler_paths_stay_relative_to_motia_yaml_wherever_we_compile_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_project(tmp_path / "proj", VALID)
    monkeypatch.chdir(tmp_path)
    app = compile_project("proj/motia.yaml").app
    assert app.source == "proj/motia.yaml"
    assert app.root == str(tmp_path / "proj")
    assert [s.handler.path for s in app.steps if s.handler] == ["steps/create.py", "steps/ship.js"]


def test_errors_name_the_file_as_the_user_gave_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_project(tmp_path / "proj", VALID.replace("type: event", "type: evnt"))
    monkeypatch.chdir(tmp_path)
    assert errors_of("proj") == [
        "proj/motia.yaml:23:11: 'type' in step 'ship' must be one of api, event, cron, noop; got 'evnt'"]


def test_every_error_of_every_stage_is_reported_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a project with a schema error, an unknown topic, a bad cron and a missing file
    monkeypatch.chdir(tmp_path)
    text = (VALID.replace("handler: steps/ship.js", "handler: steps/gone.js")
            .replace("emits: [order.placed]", "emits: [order.placd]")
            .replace("version: 1", "version: 1\ncolour: blue")
            + "  nightly: {type: cron, cron: 'every day', handler: steps/create.py}\n")
    write_project(tmp_path, text)
    # When compiled, Then all four are reported, in file order
    assert errors_of() == [
        "motia.yaml:2:1: unknown top-level key 'colour'",
        "motia.yaml:20:13: step 'create-order' emits undeclared topic 'order.placd'",
        "motia.yaml:27:14: handler file 'steps/gone.js' not found",
        "motia.yaml:28:31: cron expression 'every day' has 2 fields, expected 5 (or 6 with seconds first)",
    ]


def test_a_step_with_a_schema_error_still_gets_its_other_checks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    text = VALID.replace("    handler: steps/ship.js", "    handler: steps/ship.js\n    retries: -1") \
        .replace("subscribes: [order.placed]", "subscribes: [order.place]")
    write_project(tmp_path, text)
    assert errors_of() == [
        "motia.yaml:24:18: step 'ship' subscribes to undeclared topic 'order.place'",
        "motia.yaml:27:14: 'retries' in step 'ship' must be at least 0, got -1",
    ]


def test_missing_handlers_are_allowed_when_stubs_will_be_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write_project(tmp_path, VALID, handlers=())
    with pytest.raises(ProjectInvalid, match="handler file 'steps/create.py' not found"):
        compile_project()
    assert compile_project(require_handlers=False).app.steps[0].handler is not None


# --- warnings ---------------------------------------------------------------------------


def warnings_of(tmp_path: Path, text: str) -> list[str]:
    write_project(tmp_path, text)
    result = compile_project(tmp_path / "motia.yaml")
    return [f"{w.line}:{w.col}: {w.message}" for w in result.warnings]


def test_a_valid_project_has_no_warnings(tmp_path: Path) -> None:
    assert warnings_of(tmp_path, VALID) == []


def test_a_topic_nobody_subscribes_to_is_a_warning(tmp_path: Path) -> None:
    text = VALID.replace("topics:\n", "topics:\n  order.lost: {}\n")
    assert warnings_of(tmp_path, text) == ["10:3: topic 'order.lost' has no subscribers"]


def test_a_step_in_no_flow_is_a_warning(tmp_path: Path) -> None:
    text = VALID.replace("    flows: [checkout]\n    handler: steps/ship.js", "    handler: steps/ship.js")
    assert warnings_of(tmp_path, text) == ["22:3: step 'ship' is in no flow"]


def test_a_cycle_is_a_warning_and_the_project_still_compiles(tmp_path: Path) -> None:
    text = VALID.replace("topics:\n", "topics:\n  order.shipped: {}\n").replace(
        "    handler: steps/ship.js", "    emits: [order.shipped]\n    handler: steps/ship.js"
    ).replace("  create-order:\n", "  reorder:\n    type: event\n    subscribes: [order.shipped]\n"
              "    emits: [order.placed]\n    flows: [checkout]\n    handler: steps/create.py\n"
              "  create-order:\n")
    assert warnings_of(tmp_path, text) == ["15:3: steps form a cycle: reorder -> ship -> reorder"]


def test_a_step_emitting_what_it_subscribes_to_is_a_cycle_of_one(tmp_path: Path) -> None:
    text = VALID.replace("    handler: steps/ship.js", "    emits: [order.placed]\n    handler: steps/ship.js")
    assert warnings_of(tmp_path, text) == ["22:3: step 'ship' emits a topic it subscribes to"]


# --- schemas ---------------------------------------------------------------------------


def test_ref_files_resolve_relative_to_the_file_that_holds_them(tmp_path: Path) -> None:
    # Given a named schema from a file that refers to a sibling file and a named schema
    text = VALID.replace("  Order:\n", "  Money: {type: integer}\n  Invoice: {$ref: schemas/invoice.json}\n  Order:\n")
    files = {
        "schemas/invoice.json": '{"type": "object", "properties": {"line": {"$ref": "line.json"},'
                                ' "total": {"$ref": "Money"}}}',
        "schemas/line.json": '{"type": "string"}',
    }
    write_project(tmp_path, text, files)
    # When compiled, Then every $ref is inlined
    result = compile_project(tmp_path / "motia.yaml")
    assert dict(result.app.schemas)["Invoice"] == {
        "type": "object", "properties": {"line": {"type": "string"}, "total": {"type": "integer"}}}
    assert result.ref_files == ("schemas/invoice.json", "schemas/line.json")


def test_a_file_with_local_refs_keeps_them_working_wherever_it_is_inlined(tmp_path: Path) -> None:
    text = VALID.replace("      id: {type: string}", "      id: {type: string}\n      tag: {$ref: schemas/tag.json}")
    files = {"schemas/tag.json": '{"$defs": {"t": {"type": "string"}}, "$ref": "#/$defs/t"}'}
    write_project(tmp_path, text, files)
    order = dict(compile_project(tmp_path / "motia.yaml").app.schemas)["Order"]
    tag = order["properties"]["tag"]
    assert tag["$id"] == "urn:motia:file:schemas/tag.json"
    import jsonschema

    jsonschema.validate({"id": "1", "tag": "x"}, order)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"id": "1", "tag": 5}, order)


def test_a_pointer_into_a_file_and_a_yaml_schema_file(tmp_path: Path) -> None:
    text = VALID.replace("  Order:\n", "  A: {$ref: 'schemas/all.json#/defs/a'}\n  B: {$ref: schemas/b.yaml}\n  Order:\n")
    files = {"schemas/all.json": '{"defs": {"a": {"type": "boolean"}}}', "schemas/b.yaml": "type: array\n"}
    write_project(tmp_path, text, files)
    schemas = dict(compile_project(tmp_path / "motia.yaml").app.schemas)
    assert (schemas["A"], schemas["B"]) == ({"type": "boolean"}, {"type": "array"})


def test_inline_schemas_may_name_declared_schemas(tmp_path: Path) -> None:
    text = VALID.replace("    body: Order\n", "    body: {type: array, items: {$ref: Order}}\n")
    write_project(tmp_path, text)
    body = compile_project(tmp_path / "motia.yaml").app.steps[0].body
    assert body is not None and body["items"]["required"] == ["id"]


# --- step options ----------------------------------------------------------------------


def test_every_optional_step_key_is_accepted(tmp_path: Path) -> None:
    text = VALID + (
        "  nightly:\n    type: cron\n    cron: '30 */5 * * * *'\n    timezone: Europe/Paris\n"
        "    idempotent: true\n    description: Every five minutes, at second 30\n"
        "    flows: [checkout]\n    workers: 2\n    concurrency: 4\n    memory: 1GiB\n"
        "    backoff: {max: 2m}\n    handler: steps/create.py:nightly\n"
        "  search:\n    type: api\n    method: GET\n    path: /orders/{id}/\n"
        "    query: {type: object, properties: {q: {type: string}}}\n"
        "    responses: {200: Order, 204: null}\n    flows: [checkout]\n    handler: steps/create.py\n"
    )
    write_project(tmp_path, text, {"steps/create.py": "def handler(req, ctx): ...\n"
                                           "def nightly(ctx): ...\n"})
    app = compile_project(tmp_path / "motia.yaml").app
    nightly, search = app.steps[-2:]
    assert (nightly.timezone, nightly.idempotent, nightly.workers, nightly.concurrency) == (
        "Europe/Paris", True, 2, 4)
    assert (nightly.memory, nightly.backoff.max, nightly.handler) == (
        1024**3, 120.0, Handler("steps/create.py", "nightly", "python"))
    assert search.path_params == ("id",)
    assert search.query == {"type": "object", "properties": {"q": {"type": "string"}}}
    assert [r.status for r in search.responses] == [200, 204] and search.responses[1].schema is None


def test_x_keys_hold_anchors_that_steps_merge(tmp_path: Path) -> None:
    # Given shared settings under an `x-` key, merged into a step with `<<:`
    text = VALID.replace("steps:\n", "x-common: &common {timeout: 5s, flows: [checkout]}\nsteps:\n")
    text = text.replace("    flows: [checkout]\n    handler: steps/ship.js", "    <<: *common\n"
                        "    handler: steps/ship.js")
    write_project(tmp_path, text)
    # When compiled, Then the step has them, and the x- key is ignored
    ship = compile_project(tmp_path / "motia.yaml").app.steps[1]
    assert (ship.timeout, ship.flows) == (5.0, ("checkout",))


def test_merge_keys_inside_steps(tmp_path: Path) -> None:
    text = VALID.replace("  ship:\n", "  ship: &ship\n").replace(
        "    handler: steps/ship.js\n",
        "    handler: steps/ship.js\n  ship-again:\n    <<: *ship\n    timeout: 5s\n")
    write_project(tmp_path, text)
    ship, again = compile_project(tmp_path / "motia.yaml").app.steps[1:]
    assert (again.subscribes, again.handler, again.timeout) == (ship.subscribes, ship.handler, 5.0)


def test_retries_do_not_apply_to_api_steps(tmp_path: Path) -> None:
    write_project(tmp_path, VALID.replace("version: 1\n", "version: 1\ndefaults: {retries: 7}\n"))
    create, ship = compile_project(tmp_path / "motia.yaml").app.steps
    assert (create.retries, ship.retries) == (0, 7)


def test_compiling_writes_nothing(tmp_path: Path) -> None:
    write_project(tmp_path, VALID)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    compile_project(tmp_path / "motia.yaml")
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
    assert not os.path.exists(tmp_path / ".motia")


def test_a_misspelt_json_schema_keyword_is_a_warning(tmp_path: Path) -> None:
    # JSON Schema ignores unknown keywords: `requried` would silently check nothing
    text = VALID.replace("    required: [id]", "    requried: [id]")
    write_project(tmp_path, text)
    result = compile_project(tmp_path / "motia.yaml")
    assert [(w.line, w.col, w.message, w.hint) for w in result.warnings] == [
        (6, 5, "unknown JSON Schema keyword 'requried' is ignored", "did you mean 'required'?")]
