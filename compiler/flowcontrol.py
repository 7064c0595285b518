"""`flow:` of an event step (concurrency, rate, debounce, order): read, checked, frozen.

`resolve_flow_control` turns the YAML mapping into an `ir.FlowControl`, checking each
number and duration (the schema stage already checked the shape); `check_flow_keys`
walks every rule's key through the schema of each topic the step subscribes to, so a
misspelt `customer.idd` is a compile error with a "did you mean" instead of one shared
key at run time. Both are pure: they only file problems.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from motia.compiler._problems import Problems
from motia.compiler.ir import App, Concurrency, Debounce, FlowControl, Order, Rate, Step
from motia.compiler.keypaths import KeyPath, check_in_schema
from motia.compiler.loader import JSONPath
from motia.compiler.units import format_duration, parse_duration
from motia.errors import CompileError

#: the longest `rate.per` and `debounce.wait` (seconds): longer ones are a typo or a cron job
LONGEST = 86400.0
#: the shortest (seconds): below it the clocks of two replicas disagree more than the window
SHORTEST = 0.01

Report = Callable[[JSONPath, CompileError], None]


def resolve_flow_control(raw: Any, path: JSONPath, report: Report) -> FlowControl | None:
    """The FlowControl of a step's `flow:` value (None when absent or empty)."""
    if not isinstance(raw, Mapping) or not raw:
        return None
    here = path + ("flow",)
    control = FlowControl(
        concurrency=_rule(raw, "concurrency", here, report, _concurrency),
        rate=_rule(raw, "rate", here, report, _rate),
        debounce=_rule(raw, "debounce", here, report, _debounce),
        order=_rule(raw, "order", here, report, _order),
    )
    return control if control.rules() else None


def _rule(raw: Mapping[str, Any], name: str, path: JSONPath, report: Report,
          build: Callable[[Mapping[str, Any], JSONPath], Any]) -> Any:
    spec = raw.get(name)
    if not isinstance(spec, Mapping):
        return None  # absent, or the wrong shape the schema stage reported
    try:
        return build(spec, path + (name,))
    except _Located as exc:
        report(exc.path, exc.error)
        return None


class _Located(Exception):
    """A CompileError and the place inside `flow:` it belongs to (internal)."""

    def __init__(self, path: JSONPath, error: CompileError) -> None:
        super().__init__(error.message)
        self.path = path
        self.error = error


def _key(spec: Mapping[str, Any]) -> str | None:
    key = spec.get("key")
    return key if isinstance(key, str) and key else None


def _limit(spec: Mapping[str, Any], path: JSONPath, example: str) -> int:
    value = spec.get("limit")
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _Located(path + ("limit",), CompileError(
            f"limit must be a whole number of at least 1, got {value!r}", f"e.g. `{example}`"))
    return value


def _duration(spec: Mapping[str, Any], name: str, path: JSONPath, example: str) -> float:
    where = path + (name,)
    try:
        seconds = parse_duration(spec.get(name))
    except CompileError as exc:
        raise _Located(where, exc) from None
    if not SHORTEST <= seconds <= LONGEST:
        raise _Located(where, CompileError(
            f"{name} must be between {format_duration(SHORTEST)} and {format_duration(LONGEST)}, "
            f"got {format_duration(seconds)}", f"e.g. `{example}`"))
    return seconds


def _concurrency(spec: Mapping[str, Any], path: JSONPath) -> Concurrency:
    return Concurrency(limit=_limit(spec, path, "limit: 2"), key=_key(spec))


def _rate(spec: Mapping[str, Any], path: JSONPath) -> Rate:
    return Rate(limit=_limit(spec, path, "limit: 10"),
                per=_duration(spec, "per", path, "per: 1m"), key=_key(spec))


def _debounce(spec: Mapping[str, Any], path: JSONPath) -> Debounce:
    return Debounce(wait=_duration(spec, "wait", path, "wait: 5s"), key=_key(spec))


def _order(spec: Mapping[str, Any], path: JSONPath) -> Order:
    return Order(key=_key(spec))


# --- keys against the topics' schemas ----------------------------------------------------


def check_flow_keys(app: App, step: Step, problems: Problems) -> None:
    """Each rule's key names properties the subscribed topics' schemas declare; a key
    that is not always present is a warning (events without it share one key)."""
    if step.flow_control is None:
        return
    declared = {topic.name for topic in app.topics}
    for name, rule in step.flow_control.rules():
        if rule.key is not None:
            _check_key(app, step, name, rule.key, declared, problems)


def _check_key(app: App, step: Step, rule: str, key: str, declared: set[str],
               problems: Problems) -> None:
    where = ("steps", step.name, "flow", rule, "key")
    path = KeyPath("", tuple(key.split(".")))
    always = True
    for topic in (app.topic(t) for t in step.subscribes if t in declared):
        named = f" (schema {topic.schema_name})" if topic.schema_name else ""
        try:
            always = check_in_schema(path, topic.schema, f"topic '{topic.name}'{named}") and always
        except CompileError as exc:
            problems.error(where, CompileError(f"flow.{rule} {exc.message}", exc.hint))
            return
    if not always:
        problems.warn(where, f"flow.{rule} key '{key}' is not required by the schema",
                      "events without it share one key (the empty one)")


def describe(control: FlowControl) -> list[str]:
    """Each rule in plain words, for `motia compile`, the HTML export and the Workbench."""
    words: list[str] = []
    for name, rule in control.rules():
        per_key = f" per {rule.key}" if rule.key else ""
        if isinstance(rule, Concurrency):
            words.append(f"at most {rule.limit} running at once{per_key}")
        elif isinstance(rule, Rate):
            words.append(f"at most {rule.limit} starts per {format_duration(rule.per)}{per_key}")
        elif isinstance(rule, Debounce):
            words.append(f"a burst runs once, {format_duration(rule.wait)} after its last "
                         f"event{per_key}")
        elif isinstance(rule, Order):
            words.append(f"one at a time in publish order{per_key or ' (all events)'}")
        else:  # pragma: no cover -- FlowControl.rules names only these
            raise AssertionError(name)
    return words
