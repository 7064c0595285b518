"""A HookSet that calls only the hooks a subscriber actually overrides.

Every invocation fires several hooks (before/after invoke, publish, state ops) and the
runtime always has several subscribers (traces, the log buffer, the test harness), most
of which override one or two hooks. Skipping the inherited no-ops keeps the hot path
of each event short; the behaviour is HookSet's (a failing hook is logged, never raised).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from motia.runner.hooks import Hooks, HookSet

_log = logging.getLogger("motia.hooks")


class FastHookSet(HookSet):
    def __init__(self, *hooks: Hooks) -> None:
        super().__init__(*hooks)
        self._bound: dict[str, list[Callable[..., None]]] = {}

    def add(self, hooks: Hooks) -> None:
        super().add(hooks)
        self._bound.clear()

    def remove(self, hooks: Hooks) -> None:
        super().remove(hooks)
        self._bound.clear()

    def _call(self, name: str, *args: Any) -> None:
        bound = self._bound.get(name)
        if bound is None:
            bound = self._bound[name] = _overriding(self._hooks, name)
        for method in bound:
            try:
                method(*args)
            except Exception:  # a broken observer must not break delivery
                _log.exception("hook %s of %r failed", name, getattr(method, "__self__", method))


def _overriding(hooks: list[Hooks], name: str) -> list[Callable[..., None]]:
    base = getattr(Hooks, name)
    return [getattr(h, name) for h in hooks
            if getattr(type(h), name, base) is not base and hasattr(h, name)]
