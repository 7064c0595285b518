"""The `motia` command: argument parsing and the one place errors become messages.

Each group of subcommands lives in its own module exposing `register(subparsers)`; the
function it sets as `func` returns an exit status. Only `main` prints errors, and it
never prints a traceback for a MotiaError: each class maps to its `exit_code`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from motia.errors import MotiaError, ProjectInvalid

EXIT_OK, EXIT_INVALID, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        sys.stderr.write(f"motia: error: {message}\n  hint: run `{self.prog} --help` for usage\n")
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    from motia import _cmd_admin, _cmd_build, _cmd_compile, _cmd_deploy, _cmd_run

    parser = _Parser(prog="motia", description="Event-driven backends from one motia.yaml.")
    parser.add_argument("--version", action="version", version=f"motia {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for module in (_cmd_compile, _cmd_run, _cmd_admin, _cmd_build, _cmd_deploy):
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ProjectInvalid as exc:
        for diagnostic in exc.diagnostics:
            sys.stderr.write(f"{diagnostic}\n")
        count = sum(d.severity == "error" for d in exc.diagnostics)
        sys.stderr.write(f"motia: {count} error(s); nothing written\n")
        return EXIT_INVALID
    except MotiaError as exc:
        sys.stderr.write(f"motia: error: {exc}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("motia")
    except PackageNotFoundError:
        return "0+unknown"


if __name__ == "__main__":
    sys.exit(main())
