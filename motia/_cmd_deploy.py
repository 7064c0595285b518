"""`motia deploy --target compose|kubernetes`: build deploy/, apply it, wait until ready.

compose: `docker compose -f deploy/compose.yaml up -d --build`, then /readyz on the
gateway's published port. kubernetes: optionally `docker build` + `docker push` the image
(--push), check the Secret, `kubectl apply -k deploy/k8s`, `kubectl rollout status` of
every Deployment, then /readyz through the API server. `--dry-run` prints the commands
and runs none; a missing docker/kubectl is a one-line error naming how to install it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from motia._cmd_build import add_build_options, build, checked_image


def register(sub: Any) -> None:
    """Add `deploy` to the `motia` parser."""
    from motia.build.deploy import TARGETS

    summary = "build deploy/ and run it with docker compose or on Kubernetes"
    parser = sub.add_parser("deploy", help=summary, description=summary)
    add_build_options(parser)
    parser.add_argument("--target", required=True, choices=TARGETS,
                        help="docker compose on this machine, or the cluster kubectl talks to")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the commands, run none of them, write nothing")
    parser.add_argument("--namespace", help="kubernetes: the namespace (default: the context's)")
    parser.add_argument("--context", help="the docker or kubectl context to deploy with")
    parser.add_argument("--push", action="store_true",
                        help="kubernetes: docker build and push --image before applying")
    parser.add_argument("--timeout", type=float, default=300.0,
                        help="seconds to wait for the rollout and readiness (default 300)")
    parser.set_defaults(func=deploy_command)


def deploy_command(args: argparse.Namespace) -> int:
    from motia._cmd_run import project_source
    from motia.build import plan_project
    from motia.build.deploy import Options, check_tools, tools

    options = Options(namespace=args.namespace, context=args.context, push=args.push,
                      timeout=args.timeout)
    root = project_source(args.project).parent
    if args.dry_run:
        plan = plan_project(root / "motia.yaml", image=checked_image(args.image))
        return _print_dry_run(plan, args, options)
    check_tools(tools(args.target, options))
    built = build(args)
    say(f"motia: wrote {built.out} ({len(built.outcome.written)} file(s) changed)")
    if args.target == "compose":
        _compose(built.plan, root, options)
    else:
        _kubernetes(built.plan, root, options)
    return 0


def _print_dry_run(plan: Any, args: argparse.Namespace, options: Any) -> int:
    from motia.build.deploy import compose_commands, kubernetes_commands

    build_argv = ["motia", "build", str(args.project)] + (
        ["--image", args.image] if args.image else []) + (["--force"] if args.force else [])
    commands = (compose_commands(options) if args.target == "compose"
                else kubernetes_commands(plan, options))
    lines = [f"motia deploy --target {args.target} --dry-run: nothing is run or written", "",
             "$ " + " ".join(build_argv)]
    lines += [f"$ {c}" for c in commands]
    lines.append("then: wait for /readyz of the gateway "
                 + ("on its published port" if args.target == "compose"
                    else "through the API server's service proxy"))
    say("\n".join(lines))
    return 0


def _compose(plan: Any, root: Path, options: Any) -> None:
    from motia.build.deploy import compose_commands, http_probe, published_port, run, wait_ready

    run(compose_commands(options), root, say)
    logs = "docker compose -f deploy/compose.yaml logs -f"
    if not any(r.serves_http for r in plan.roles):
        say(f"motia: app {plan.app!r} is up with docker compose (no API steps, so no URL); "
            f"logs: {logs}")
        return
    url = f"http://127.0.0.1:{published_port(root / 'deploy')}"
    wait_ready(http_probe(url + "/readyz"), options.timeout, f"{url}/readyz")
    say("\n".join([f"motia: app {plan.app!r} is deployed with docker compose and ready",
                   f"  API:        {url}",
                   f"  Workbench:  {url}/__motia/  (token: MOTIA_WORKBENCH_TOKEN in deploy/.env)",
                   f"  readiness:  {url}/readyz",
                   f"  logs:       {logs}"]))


def _kubernetes(plan: Any, root: Path, options: Any) -> None:
    from motia.build.deploy import (
        kubernetes_commands,
        namespace_of,
        run,
        service_probe,
        wait_ready,
    )

    run(kubernetes_commands(plan, options), root, say)
    namespace = namespace_of(options)
    lines = [f"motia: app {plan.app!r} is deployed to Kubernetes (namespace {namespace})"]
    if any(r.serves_http for r in plan.roles):
        service = f"{plan.name}-gateway"
        wait_ready(service_probe(plan, options, namespace), options.timeout,
                   f"service/{service} /readyz")
        lines += [f"  in the cluster:  http://{service}.{namespace}.svc.cluster.local",
                  f"  from here:       kubectl port-forward --namespace {namespace} "
                  f"service/{service} 3000:80, then http://127.0.0.1:3000"]
    say("\n".join(lines))


def say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()
