"""Compare generated text with a file under tests/compiler/golden/.

Run the tests with MOTIA_UPDATE_GOLDEN=1 to (re)write the golden files after an
intended change, then review the diff with `git diff tests/compiler/golden/`.
"""

from __future__ import annotations

import os
from pathlib import Path

GOLDEN = Path(__file__).resolve().parent / "golden"


def assert_golden(name: str, text: str) -> None:
    """Assert `text` equals golden file `name`, or write it when MOTIA_UPDATE_GOLDEN=1."""
    path = GOLDEN / name
    if os.environ.get("MOTIA_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    assert path.exists(), f"missing golden file {path}; run with MOTIA_UPDATE_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8"), (
        f"{name} differs from its golden file; if intended, rerun with MOTIA_UPDATE_GOLDEN=1"
    )
