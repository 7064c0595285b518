"""`motia build` (write deploy/) and `motia probe` (the containers' health check).

`build` compiles the project and writes its deploy/ folder (motia/build/): Dockerfile,
compose.yaml, k8s/ and the rest, keeping any file the user edited. `probe` asks this
container's own ops server whether it is ready, the way `docker compose` and the
Dockerfile's HEALTHCHECK run it: exit 0 when ready, 1 with the reason otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import urllib.error
import urllib.request
from typing import Any

from motia.errors import MotiaError, UsageError

#: registry[:port]/path[:tag], as `docker build -t` takes it
_IMAGE = re.compile(r"^(?:[A-Za-z0-9.-]+(?::\d+)?/)?[a-z0-9]+(?:[._-][a-z0-9]+)*"
                    r"(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*(?::[\w][\w.-]{0,127})?$")


class NotReady(MotiaError):
    """Raised by `motia probe` when the replica answers not ready, or not at all."""


def register(sub: Any) -> None:
    """Add `build` and `probe` to the `motia` parser."""
    summary = "write deploy/: Dockerfile, compose.yaml and Kubernetes manifests"
    parser = sub.add_parser("build", help=summary, description=summary)
    add_build_options(parser)
    parser.set_defaults(func=build_command)

    summary = "exit 0 when this replica is ready (/readyz), 1 with the reason otherwise"
    parser = sub.add_parser("probe", help=summary, description=summary)
    parser.add_argument("url", nargs="?", help="the URL to ask (default: this replica's "
                        "/readyz on MOTIA_METRICS_PORT, else MOTIA_PORT)")
    parser.add_argument("--live", action="store_true", help="ask /healthz (alive) instead")
    parser.add_argument("--timeout", type=float, default=4.0, help="seconds (default 4)")
    parser.set_defaults(func=probe_command)


def add_build_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("project", nargs="?", default=".",
                        help="motia.yaml or the folder holding it (default: .)")
    parser.add_argument("--image", metavar="REPO:TAG",
                        help="the image every role runs (default: <app>:latest)")
    parser.add_argument("--force", action="store_true",
                        help="overwrite deploy/ files you edited (your edits are lost)")


def build_command(args: argparse.Namespace) -> int:
    built = build(args)
    out = built.out
    outcome = built.outcome
    lines = [f"motia: deploy/ of app {built.plan.app!r} in {out} "
             f"(roles: {', '.join(r.name for r in built.plan.roles) or 'none'})"]
    lines += [f"  wrote      {p}" for p in outcome.written]
    lines += [f"  unchanged  {p}" for p in outcome.unchanged]
    lines += [f"  kept       {p} (your edits; nothing new to write)" for p in outcome.kept]
    lines += [f"  removed    {p} (no longer generated)" for p in outcome.removed]
    if built.env_created:
        lines.append(f"  wrote      .env (random secrets; kept out of git by {out}/.gitignore)")
    lines += ["", "Next: motia deploy --target compose   or   motia deploy --target kubernetes"]
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


def build(args: argparse.Namespace) -> Any:
    """Run the build `args` describe (also the first step of `motia deploy`)."""
    from motia._cmd_run import project_source
    from motia.build import build_project

    return build_project(project_source(args.project), force=args.force,
                         image=checked_image(args.image))


def checked_image(image: str | None) -> str | None:
    if image is not None and not _IMAGE.match(image):
        raise UsageError(f"--image {image!r}: expected an image reference such as "
                         "shop:1.0 or registry.example.com/team/shop:1.0")
    return image


def probe_command(args: argparse.Namespace) -> int:
    url = args.url or _own_url("/healthz" if args.live else "/readyz")
    try:
        with urllib.request.urlopen(url, timeout=args.timeout) as response:  # noqa: S310
            response.read()
            return 0
    except urllib.error.HTTPError as exc:
        raise NotReady(f"{url} answered {exc.code}: {_reasons(exc.read())}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise NotReady(f"no answer from {url} ({reason})") from None


def _own_url(path: str) -> str:
    port = os.environ.get("MOTIA_METRICS_PORT") or os.environ.get("MOTIA_PORT") or "3000"
    return f"http://127.0.0.1:{port}{path}"


def _reasons(body: bytes) -> str:
    """The failing checks of a /readyz report, one clause each; the raw text otherwise."""
    try:
        report = json.loads(body)
        checks = report["checks"]
        return "; ".join(f"{name}: {checks[name].get('error', 'failing')}"
                         for name in report["not_ready"]) or "not ready"
    except (ValueError, KeyError, TypeError, AttributeError):
        return body.decode(errors="replace")[:300] or "no body"
