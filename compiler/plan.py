"""The compiled plan on disk: `.motia/plan.json` next to motia.yaml.

`motia run` should not re-validate a project that has not changed, so a successful
compile writes the App as JSON with a hash of everything it was built from: the bytes
of motia.yaml and of every `$ref` schema file, the names of the handler files and
whether they exist, and the Motia version. `load_app` trusts the plan only while that
hash still matches; anything else (a changed file, a damaged plan) means recompiling.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import types
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Union, cast, get_args, get_origin, get_type_hints

from motia.compiler.ir import App
from motia.errors import Diagnostic, MotiaError

if TYPE_CHECKING:
    from motia.compiler import Compiled

PLAN_FORMAT = 1
PLAN_DIR = ".motia"
PLAN_FILE = "plan.json"


def plan_to_dict(app: App) -> dict[str, Any]:
    """`app` as JSON-ready data; `plan_from_dict` gives back an equal App."""
    data: dict[str, Any] = _encode(app)
    return data


def plan_from_dict(data: dict[str, Any]) -> App:
    """The App `plan_to_dict` encoded; raises ValueError when `data` is not such a plan."""
    try:
        app = _decode(App, data)
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"not a Motia plan: {exc!r}") from None
    return cast(App, app)


def plan_path(root: str | Path) -> Path:
    """Where the plan of the project rooted at `root` lives."""
    return Path(root) / PLAN_DIR / PLAN_FILE


def input_hash(
    source: Path, ref_files: Iterable[str], handler_paths: Iterable[str]
) -> str:
    """Hash of every input of a compile of `source` (motia.yaml); see the module docstring."""
    root = source.parent
    digest = hashlib.sha256(f"motia-plan {PLAN_FORMAT} {_version()}\n".encode())
    digest.update(_read(source))
    for rel in sorted(set(ref_files)):
        digest.update(f"\nref {rel}\n".encode())
        digest.update(_read(root / rel))
    for rel in sorted(set(handler_paths)):
        digest.update(f"\nhandler {rel} {_exists(root / rel)}".encode())
    return digest.hexdigest()


def handler_paths(app: App) -> list[str]:
    """The handler files `app` runs, relative to its root."""
    steps = [*app.steps, *([app.streams_auth] if app.streams_auth is not None else []),
             *app.middlewares]
    return [step.handler.path for step in steps if step.handler is not None]


def write_plan(
    app: App, ref_files: Iterable[str] = (), warnings: Iterable[Diagnostic] = ()
) -> Path:
    """Write `app` to its plan file atomically; raises MotiaError when that fails."""
    target = plan_path(app.root)
    document = {
        "format": PLAN_FORMAT,
        "motia": _version(),
        "hash": app.source_hash,
        "refs": sorted(set(ref_files)),
        "warnings": [dataclasses.asdict(w) for w in warnings],
        "app": plan_to_dict(app),
    }
    temporary = target.with_name(f".{PLAN_FILE}.{os.getpid()}.tmp")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_text(json.dumps(document, indent=1, sort_keys=True), "utf-8")
        os.replace(temporary, target)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise MotiaError(f"cannot write {target}: {exc.strerror or exc}") from None
    return target


def load_app(path: str | Path = "motia.yaml") -> App:
    """The App of the project at `path`: from its plan when still current, else compiled."""
    return load_compiled(path).app


def load_compiled(path: str | Path = "motia.yaml") -> Compiled:
    """Like `compile_project`, but an unchanged project is read from its plan file.

    `motia run` calls this on every start, so an unchanged project is not validated
    again; its warnings come from the plan. Compiling raises ProjectInvalid like
    `compile_project`; a fresh plan is written when possible (a read-only checkout
    still runs, it just compiles every time).
    """
    from motia.compiler import compile_project, project_file

    file, source = project_file(path)
    cached = _current_plan(source)
    if cached is not None:
        return dataclasses.replace(
            cached, app=dataclasses.replace(cached.app, root=str(source.parent), source=file)
        )
    compiled = compile_project(path)
    try:
        write_plan(compiled.app, compiled.ref_files, compiled.warnings)
    except MotiaError:
        pass
    return compiled


def _current_plan(source: Path) -> Compiled | None:
    """The plan next to `source` as a Compiled, or None if missing, damaged or stale."""
    from motia.compiler import Compiled

    try:
        document = json.loads(plan_path(source.parent).read_text("utf-8"))
        if document.get("format") != PLAN_FORMAT or not isinstance(document.get("refs"), list):
            return None
        app = plan_from_dict(document["app"])
        warnings = tuple(Diagnostic(**w) for w in document.get("warnings", []))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    expected = input_hash(source, document["refs"], handler_paths(app))
    if document.get("hash") != expected or app.source_hash != expected:
        return None
    return Compiled(app, warnings, tuple(document["refs"]))


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except (OSError, ValueError):
        return b"\0missing"


def _exists(path: Path) -> bool:
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("motia")
    except PackageNotFoundError:
        return "0+unknown"


# --- dataclass <-> JSON, driven by the IR's type hints ----------------------------------


def _encode(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_encode(item) for item in value]
    return value  # str, int, float, bool, None, and JSON Schemas (already plain JSON)


def _decode(hint: Any, data: Any) -> Any:
    origin = get_origin(hint)
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return _decode_dataclass(hint, data)
    if origin in (Union, types.UnionType):
        return _decode_union(get_args(hint), data)
    if origin is tuple:
        return _decode_tuple(get_args(hint), data)
    if origin is Literal:
        if data not in get_args(hint):
            raise TypeError(f"{data!r} is not one of {get_args(hint)}")
        return data
    if origin is dict or hint is Any:
        return data
    if hint is float and isinstance(data, int | float) and not isinstance(data, bool):
        return float(data)
    if hint in (str, int, bool) and type(data) is hint:
        return data
    raise TypeError(f"{data!r} is not a {hint}")


def _decode_dataclass(cls: type, data: Any) -> Any:
    if not isinstance(data, dict):
        raise TypeError(f"{cls.__name__} must be an object")
    hints = get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: _decode(hints[k], v) for k, v in data.items() if k in fields})


def _decode_union(options: tuple[Any, ...], data: Any) -> Any:
    if data is None and type(None) in options:
        return None
    for option in options:
        if option is type(None):
            continue
        try:
            return _decode(option, data)
        except TypeError:
            continue
    raise TypeError(f"{data!r} matches none of {options}")


def _decode_tuple(args: tuple[Any, ...], data: Any) -> tuple[Any, ...]:
    if not isinstance(data, list):
        raise TypeError("expected a list")
    if len(args) == 2 and args[1] is Ellipsis:
        return tuple(_decode(args[0], item) for item in data)
    if len(args) != len(data):
        raise TypeError(f"expected {len(args)} items")
    return tuple(_decode(arg, item) for arg, item in zip(args, data, strict=True))
