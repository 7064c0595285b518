"""Unique generated names: `base`, else `base_2`, `base_3`, ... (ids, component keys)."""

from __future__ import annotations

from collections.abc import Container


def unique(base: str, taken: Container[str]) -> str:
    """The first of `base`, `base_2`, `base_3`, ... that is not in `taken`."""
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}_{n}"
    return name
