"""Steps' `state: {reads: [group], writes: [group]}`: which step uses which state group.

The declaration is for people and pictures: diagrams draw each group as its own node,
with an edge from every step that writes it and to every step that reads it, so a step
that reads what another writes no longer looks unconnected. It does not restrict what a
handler may do with ctx.state. The compiler warns when the declarations disagree with
each other: a group only ever read (nothing in the app writes it, most often a
misspelling, hence the "did you mean"), or two groups whose names differ only in case.
"""

from __future__ import annotations

from motia.compiler._problems import Problems
from motia.compiler.ir import App
from motia.compiler.loader import PathPart
from motia.compiler.suggest import did_you_mean

__all__ = ["state_groups", "warn_state_groups"]


def state_groups(app: App) -> list[str]:
    """Every group some step declares, in motia.yaml order (writes before reads)."""
    seen: dict[str, None] = {}
    for step in app.steps:
        seen.update(dict.fromkeys(step.state_writes))
        seen.update(dict.fromkeys(step.state_reads))
    return list(seen)


def warn_state_groups(app: App, problems: Problems) -> None:
    """File a warning for each group read but never written, and for case-only twins."""
    written = {group for step in app.steps for group in step.state_writes}
    for step in app.steps:
        for index, group in enumerate(step.state_reads):
            if group in written:
                continue
            hint = did_you_mean(group, written, fallback=(
                f"add `state: {{writes: [{group}]}}` to the step that sets it, "
                "or remove it from `reads`"))
            problems.warn(("steps", step.name, "state", "reads", index),
                          f"state group '{group}' is read by step '{step.name}' "
                          "but no step writes it", hint)
    by_case: dict[str, str] = {}
    for group in state_groups(app):
        twin = by_case.setdefault(group.lower(), group)
        if twin != group:
            problems.warn(_first_use(app, group),
                          f"state groups '{twin}' and '{group}' differ only in case",
                          "state group names are case-sensitive: spell them the same way")


def _first_use(app: App, group: str) -> tuple[PathPart, ...]:
    for step in app.steps:
        for key, groups in (("writes", step.state_writes), ("reads", step.state_reads)):
            if group in groups:
                return ("steps", step.name, "state", key, groups.index(group))
    return ("steps",)
