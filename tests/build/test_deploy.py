"""`motia deploy`: the command sequence, the wait for /readyz, the URLs, --dry-run, and
the one-line error when docker or kubectl is missing.

No container engine or cluster can run here, so `docker` and `kubectl` are stubs put
first on PATH that record their arguments (and answer the few read-only questions deploy
asks); the test itself serves the gateway's /readyz for the compose target.
"""

from __future__ import annotations

import asyncio
import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

import pytest
from _projects import cli, example
from aiohttp import web
from production._cluster import free_port

STUB = """#!{python}
import json, os, sys
argv = sys.argv[1:]
with open({log!r}, "a") as log:
    log.write(json.dumps({{"tool": os.path.basename(sys.argv[0]), "argv": argv,
                          "cwd": os.getcwd()}}) + "\\n")
if argv[:2] == ["config", "view"]:
    print("team")
if "--raw" in argv:  # the service proxy's /readyz: not ready on the first ask
    counter = {log!r} + ".raw"
    asked = int(open(counter).read()) if os.path.exists(counter) else 0
    open(counter, "w").write(str(asked + 1))
    if asked == 0:
        sys.stderr.write("Error from server (ServiceUnavailable): not ready\\n")
        sys.exit(1)
    print('{{"status":"ready"}}')
if "secret" in argv and os.environ.get("STUB_NO_SECRET"):
    sys.stderr.write('Error from server (NotFound): secrets "shop-secrets" not found\\n')
    sys.exit(1)
"""


@pytest.fixture
def stubs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """docker and kubectl stubs first on PATH; the file their calls are recorded in."""
    bin_dir, log = tmp_path / "bin", tmp_path / "calls.jsonl"
    bin_dir.mkdir()
    for tool in ("docker", "kubectl"):
        path = bin_dir / tool
        path.write_text(STUB.format(python=sys.executable, log=str(log)))
        path.chmod(path.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return log


def calls(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


async def test_compose_builds_starts_waits_for_readyz_and_prints_the_urls(
        tmp_path: Path, stubs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the example app and a gateway /readyz (served by the test) that is 503 at first
    root = example(tmp_path / "shop", app="shop")
    answers = [503, 503, 200]

    async def readyz(request: web.Request) -> web.Response:
        status = answers.pop(0) if len(answers) > 1 else answers[0]
        return web.json_response({"status": "ready" if status == 200 else "not ready",
                                  "not_ready": []}, status=status)

    app = web.Application()
    app.router.add_get("/readyz", readyz)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    monkeypatch.setenv("MOTIA_PUBLISH_PORT", str(port))
    try:
        # When motia deploy --target compose runs
        code, out, err = await asyncio.to_thread(cli, "deploy", str(root), "--target", "compose")
    finally:
        await runner.cleanup()
    # Then it built deploy/, ran docker compose up from the project, waited for ready
    assert (code, err) == (0, "")
    assert (root / "deploy" / "compose.yaml").is_file()
    assert calls(stubs) == [{"tool": "docker", "cwd": str(root), "argv": [
        "compose", "-f", "deploy/compose.yaml", "up", "-d", "--build"]}]
    assert answers == [200]  # asked until it said 200
    url = f"http://127.0.0.1:{port}"
    assert out.endswith(
        f"$ docker compose -f deploy/compose.yaml up -d --build\n"
        f"motia: app 'shop' is deployed with docker compose and ready\n"
        f"  API:        {url}\n"
        f"  Workbench:  {url}/__motia/  (token: MOTIA_WORKBENCH_TOKEN in deploy/.env)\n"
        f"  readiness:  {url}/readyz\n"
        f"  logs:       docker compose -f deploy/compose.yaml logs -f\n")


def test_kubernetes_pushes_checks_the_secret_applies_and_waits_for_each_rollout(
        tmp_path: Path, stubs: Path) -> None:
    # Given the example app
    root = example(tmp_path / "shop", app="shop")
    # When it is deployed to a namespace and context, pushing its image first
    code, out, err = cli("deploy", str(root), "--target", "kubernetes", "--push", "--image",
                         "registry.example.com/shop:7", "--namespace", "team", "--context",
                         "prod", "--timeout", "60")
    # Then the image is built and pushed, the manifests applied, every role rolled out,
    # and /readyz asked through the API server until it answered
    assert (code, err) == (0, "")
    k = ["--context", "prod", "--namespace", "team"]
    readyz = "/api/v1/namespaces/team/services/shop-gateway:http/proxy/readyz"
    assert [(c["tool"], c["argv"]) for c in calls(stubs)] == [
        ("docker", ["build", "-f", "deploy/Dockerfile", "-t", "registry.example.com/shop:7", "."]),
        ("docker", ["push", "registry.example.com/shop:7"]),
        ("kubectl", [*k, "get", "secret", "shop-secrets"]),
        ("kubectl", [*k, "apply", "-k", "deploy/k8s"]),
        ("kubectl", [*k, "rollout", "status", "deployment/shop-gateway", "--timeout=60s"]),
        ("kubectl", [*k, "rollout", "status", "deployment/shop-workers", "--timeout=60s"]),
        ("kubectl", [*k, "rollout", "status", "deployment/shop-cron", "--timeout=60s"]),
        ("kubectl", [*k, "get", "--raw", readyz]),
        ("kubectl", [*k, "get", "--raw", readyz]),
    ]
    assert out.endswith(
        "motia: app 'shop' is deployed to Kubernetes (namespace team)\n"
        "  in the cluster:  http://shop-gateway.team.svc.cluster.local\n"
        "  from here:       kubectl port-forward --namespace team service/shop-gateway "
        "3000:80, then http://127.0.0.1:3000\n")
    # And the manifests name the image that was pushed
    assert "newName: registry.example.com/shop\n" in (
        root / "deploy" / "k8s" / "kustomization.yaml").read_text()


def test_the_namespace_defaults_to_the_contexts(tmp_path: Path, stubs: Path) -> None:
    root = example(tmp_path / "shop", app="shop")
    code, out, _ = cli("deploy", str(root), "--target", "kubernetes")
    assert code == 0
    assert [c["argv"][:2] for c in calls(stubs)][-3:] == [
        ["config", "view"], ["get", "--raw"], ["get", "--raw"]]
    assert "(namespace team)" in out  # what the stub's context says


def test_a_missing_secret_stops_before_anything_is_applied(
        tmp_path: Path, stubs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STUB_NO_SECRET", "1")
    root = example(tmp_path / "shop", app="shop")
    code, _, err = cli("deploy", str(root), "--target", "kubernetes")
    assert (code, err) == (1, (
        "motia: error: `kubectl get secret shop-secrets` failed (exit status 1) while trying "
        "to check that the Secret the Deployments read exists; fill deploy/k8s/secrets.env "
        "(keys: secrets.env.example), then `kubectl create secret generic shop-secrets "
        "--from-env-file=deploy/k8s/secrets.env`\n"))
    assert [c["argv"] for c in calls(stubs)] == [["get", "secret", "shop-secrets"]]


def test_dry_run_prints_the_commands_and_runs_or_writes_nothing(
        tmp_path: Path, stubs: Path) -> None:
    root = example(tmp_path / "shop", app="shop")
    code, out, err = cli("deploy", str(root), "--target", "kubernetes", "--dry-run",
                         "--namespace", "team")
    assert (code, err) == (0, "")
    assert out == (
        "motia deploy --target kubernetes --dry-run: nothing is run or written\n\n"
        f"$ motia build {root}\n"
        "$ kubectl --namespace team get secret shop-secrets\n"
        "$ kubectl --namespace team apply -k deploy/k8s\n"
        "$ kubectl --namespace team rollout status deployment/shop-gateway --timeout=300s\n"
        "$ kubectl --namespace team rollout status deployment/shop-workers --timeout=300s\n"
        "$ kubectl --namespace team rollout status deployment/shop-cron --timeout=300s\n"
        "then: wait for /readyz of the gateway through the API server's service proxy\n")
    assert not stubs.exists() and not (root / "deploy").exists()


@pytest.mark.parametrize(("target", "tool", "how"), [
    ("compose", "docker", "install Docker Engine with its Compose plugin "
                          "(https://docs.docker.com/engine/install/)"),
    ("kubernetes", "kubectl", "install kubectl and point it at your cluster "
                              "(https://kubernetes.io/docs/tasks/tools/)"),
])
def test_a_missing_tool_is_a_one_line_error_naming_the_install(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: str, tool: str,
        how: str) -> None:
    # Given a PATH without docker and kubectl
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    root = example(tmp_path / "shop", app="shop")
    # When a deploy needs one, Then it is one line with the install, exit 127, no build
    assert cli("deploy", str(root), "--target", target) == (
        127, "", f"motia: error: {tool} is not installed (not on PATH): {how}\n")
    assert not (root / "deploy").exists()
