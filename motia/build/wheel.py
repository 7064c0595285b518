"""The running Motia, packed as a wheel for the image: the container runs what built it.

A deployed app must run the same Motia as the one that compiled and tested it, and this
Motia is not a package index's (the `motia` name there is another project), so `motia
build` packs the installed package, from wherever it is imported (an editable checkout
maps compiler/, runner/ and schema/ to motia.*), into `deploy/motia-<version>-py3-none-
any.whl` with its metadata and dependencies. The archive is reproducible: same files,
same bytes, so an unchanged Motia never shows up as a changed deploy file.
"""

from __future__ import annotations

import base64
import hashlib
import importlib
import io
import zipfile
from importlib import metadata
from pathlib import Path

#: motia.* packages that an editable install keeps in folders of their own
_MAPPED = ("compiler", "runner", "schema")
_SKIP_DIRS = {"__pycache__"}
_SKIP_SUFFIXES = (".pyc", ".pyo")
_EPOCH = (1980, 1, 1, 0, 0, 0)


def motia_version() -> str:
    try:
        return metadata.version("motia")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def wheel_name(version: str) -> str:
    return f"motia-{version}-py3-none-any.whl"


def build_wheel() -> tuple[str, bytes]:
    """(file name, bytes) of a wheel of the Motia this process imported."""
    version = motia_version()
    files = sorted(_package_files().items())
    info = f"motia-{version}.dist-info"
    meta = [(f"{info}/METADATA", _metadata_text().encode()),
            (f"{info}/WHEEL", _WHEEL.encode()),
            (f"{info}/entry_points.txt", b"[console_scripts]\nmotia = motia.cli:main\n")]
    buffer = io.BytesIO()
    records = []
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in [*((n, p.read_bytes()) for n, p in files), *meta]:
            _add(archive, name, data)
            records.append(f"{name},sha256={_digest(data)},{len(data)}")
        records.append(f"{info}/RECORD,,")
        _add(archive, f"{info}/RECORD", ("\n".join(records) + "\n").encode())
    return wheel_name(version), buffer.getvalue()


def _package_files() -> dict[str, Path]:
    """Archive name (motia/...) -> file, for the package and every mapped subpackage."""
    found: dict[str, Path] = {}
    _collect(Path(importlib.import_module("motia").__path__[0]), "motia", found)
    for sub in _MAPPED:
        folder = Path(importlib.import_module(f"motia.{sub}").__path__[0])
        _collect(folder, f"motia/{sub}", found)
    return found


def _collect(folder: Path, prefix: str, found: dict[str, Path]) -> None:
    for path in folder.rglob("*"):
        rel = path.relative_to(folder)
        if path.is_file() and not _SKIP_DIRS & set(rel.parts) \
                and not path.name.endswith(_SKIP_SUFFIXES):
            found.setdefault(f"{prefix}/{rel.as_posix()}", path)


def _metadata_text() -> str:
    """The installed core metadata (name, version, dependencies), as the install has it:
    METADATA in a .dist-info, PKG-INFO in an .egg-info."""
    try:
        dist = metadata.distribution("motia")
    except metadata.PackageNotFoundError:
        dist = None
    for name in ("METADATA", "PKG-INFO"):
        text = dist.read_text(name) if dist is not None else None
        if text:
            return text
    return f"Metadata-Version: 2.1\nName: motia\nVersion: {motia_version()}\n"


def _add(archive: zipfile.ZipFile, name: str, data: bytes) -> None:
    entry = zipfile.ZipInfo(name, date_time=_EPOCH)
    entry.compress_type = zipfile.ZIP_DEFLATED
    entry.external_attr = 0o644 << 16
    archive.writestr(entry, data)


def _digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


_WHEEL = "Wheel-Version: 1.0\nGenerator: motia build\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
