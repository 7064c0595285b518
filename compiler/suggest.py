""""Did you mean ...?" for misspelt keys, topics, schema, flow and step names."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def closest(word: str, candidates: Iterable[str]) -> str | None:
    """The candidate `word` most likely misspells, or None when none is close.

    A case-insensitive exact match wins (`post` -> `POST`); otherwise difflib's ratio,
    with a cutoff that still catches one or two wrong letters in short names.
    """
    options = [c for c in candidates if c != word]
    lowered = {c.lower(): c for c in options}
    if word.lower() in lowered:
        return lowered[word.lower()]
    matches = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return matches[0] if matches else None


def did_you_mean(word: str, candidates: Iterable[str], *, fallback: str = "") -> str:
    """A hint naming the closest candidate, or `fallback` when none is close."""
    match = closest(word, candidates)
    return f"did you mean '{match}'?" if match is not None else fallback


def one_of(candidates: Iterable[str], *, limit: int = 12) -> str:
    """`a, b, c` (or the first `limit` and a count) for listing what is allowed."""
    names = sorted(candidates)
    if len(names) > limit:
        return ", ".join(names[:limit]) + f" and {len(names) - limit} more"
    return ", ".join(names)
