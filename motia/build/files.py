"""Writing deploy/ without ever losing a user's edit.

deploy/.motia-build.json records the SHA-256 of every file `motia build` last wrote.
On the next build, for each file, three versions are compared: what is on disk, what
was recorded, and what would be written now:

- missing, or the same as what would be written        -> written / left as it is
- on disk == recorded (the user did not touch it)       -> refreshed
- recorded == new (edited, but nothing new to write)    -> kept, said so
- edited *and* the build would now write something else -> refused, named, unless --force

A file the manifest does not know that is in the way counts as edited. Files an earlier
build wrote that this one no longer produces are deleted when unedited.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from motia.errors import MotiaError

MANIFEST = ".motia-build.json"


class EditedFiles(MotiaError):
    """Raised when `motia build` would overwrite files the user edited (without --force)."""

    def __init__(self, out: Path, paths: list[str]) -> None:
        self.paths = paths
        listed = "\n".join(f"  {out / p}" for p in paths)
        super().__init__(
            f"refused to overwrite {len(paths)} file(s) you edited, which motia.yaml now "
            f"changes:\n{listed}\n  hint: merge the change by hand, or run `motia build "
            "--force` to overwrite them (your edits would be lost); every other file was "
            "refreshed")


@dataclass
class Outcome:
    """What one build did, file by file (paths inside deploy/)."""

    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


def write_outputs(out: Path, files: dict[str, bytes], *, force: bool, app: str,
                  version: str) -> Outcome:
    """Write `files` under `out` by the rules above; raise EditedFiles after writing the
    rest when some were refused."""
    recorded = _read_manifest(out)
    outcome = Outcome()
    new_record: dict[str, str] = {}
    for rel, data in sorted(files.items()):
        digest = _place(out / rel, data, recorded.get(rel), force, outcome, rel)
        if digest is not None:
            new_record[rel] = digest
    for rel in sorted(set(recorded) - set(files)):
        _retire(out / rel, recorded[rel], outcome, rel)
    manifest = {"app": app, "motia": version, "files": new_record}
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    if outcome.refused:
        raise EditedFiles(out, outcome.refused)
    return outcome


def _place(path: Path, data: bytes, recorded: str | None, force: bool, outcome: Outcome,
           rel: str) -> str | None:
    """Write or keep one file; the hash to record for it (None: not ours to record)."""
    new = sha256(data)
    current = sha256(path.read_bytes()) if path.is_file() else None
    if current == new:
        outcome.unchanged.append(rel)
    elif current is None or current == recorded or force:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        outcome.written.append(rel)
    elif recorded == new:
        outcome.kept.append(rel)
    else:
        outcome.refused.append(rel)
        return recorded
    return new


def _retire(path: Path, recorded: str, outcome: Outcome, rel: str) -> None:
    if path.is_file() and sha256(path.read_bytes()) == recorded:
        path.unlink()
        outcome.removed.append(rel)


def _read_manifest(out: Path) -> dict[str, str]:
    try:
        raw = json.loads((out / MANIFEST).read_text())
        files = raw["files"]
    except FileNotFoundError:
        return {}
    except (ValueError, KeyError, TypeError):
        return {}  # unreadable: every existing file then counts as the user's
    return {str(k): str(v) for k, v in files.items()} if isinstance(files, dict) else {}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
