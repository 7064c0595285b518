"""The generated k8s/ validates against a current Kubernetes (strict: no unknown field),
file by file and as `kubectl kustomize` assembles it, and asks for what motia.yaml says."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from _projects import build, example

K8S_VERSION = "1.37.0"  # the newest schemas kubernetes-validate ships


def validate(document: dict[str, Any]) -> None:
    kubernetes_validate.validate(document, K8S_VERSION, strict=True)


@pytest.fixture
def k8s(tmp_path: Path) -> Path:
    return build(example(tmp_path / "shop", app="shop")) / "k8s"


def resources(k8s: Path) -> list[dict[str, Any]]:
    """Every document of every file the kustomization lists, in its order."""
    kustomization = yaml.safe_load((k8s / "kustomization.yaml").read_text())
    return [doc for name in kustomization["resources"]
            for doc in yaml.safe_load_all((k8s / name).read_text())]


def test_every_resource_file_validates_strictly(k8s: Path) -> None:
    # Given the k8s/ folder of the example app, When each listed resource is validated
    docs = resources(k8s)
    for doc in docs:
        validate(doc)
    # Then the kinds are the ones a deployment needs, one Deployment per role
    assert [(d["kind"], d["metadata"]["name"]) for d in docs] == [
        ("ConfigMap", "shop-config"),
        ("Deployment", "shop-gateway"), ("Service", "shop-gateway"),
        ("HorizontalPodAutoscaler", "shop-gateway"), ("PodDisruptionBudget", "shop-gateway"),
        ("Deployment", "shop-workers"), ("HorizontalPodAutoscaler", "shop-workers"),
        ("PodDisruptionBudget", "shop-workers"),
        ("Deployment", "shop-cron"), ("PodDisruptionBudget", "shop-cron"),
    ]


def test_the_kustomize_assembly_validates_and_sets_the_image(tmp_path: Path) -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:  # kustomize is built into kubectl; assembly needs no cluster
        if os.environ.get("MOTIA_REQUIRE_SERVICES") == "1":
            pytest.fail("kubectl is not on PATH and MOTIA_REQUIRE_SERVICES=1", pytrace=False)
        pytest.skip("kubectl is not on PATH (its kustomize assembles k8s/)")
    # Given a build with an image of a registry
    k8s = build(example(tmp_path / "shop", app="shop"),
                "--image", "registry.example.com/team/shop:1.4") / "k8s"
    # When kustomize assembles it
    out = subprocess.run([kubectl, "kustomize", str(k8s)], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    docs = list(yaml.safe_load_all(out))
    # Then every assembled resource validates, is labelled part of the app, and the
    # Deployments run the image asked for
    for doc in docs:
        validate(doc)
        assert doc["metadata"]["labels"]["app.kubernetes.io/part-of"] == "shop"
    images = {d["metadata"]["name"]: d["spec"]["template"]["spec"]["containers"][0]["image"]
              for d in docs if d["kind"] == "Deployment"}
    assert images == dict.fromkeys(("shop-gateway", "shop-workers", "shop-cron"),
                                   "registry.example.com/team/shop:1.4")


def test_deployments_probe_health_and_size_memory_from_the_steps(k8s: Path) -> None:
    deployments = {d["metadata"]["name"]: d for d in resources(k8s) if d["kind"] == "Deployment"}
    for name, deployment in deployments.items():
        pod = deployment["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        role = name.removeprefix("shop-")
        # Then each runs its role, reads the ConfigMap and a Secret *reference* ...
        assert container["command"] == ["motia", "run", "--role", role, "--eager"]
        assert container["envFrom"] == [{"configMapRef": {"name": "shop-config"}},
                                        {"secretRef": {"name": "shop-secrets"}}]
        # ... is probed on /healthz and /readyz of its ops port, runs as non-root
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "ops"}
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "ops"}
        assert {"name": "ops", "containerPort": 9464} in container["ports"]
        assert pod["securityContext"]["runAsNonRoot"] is True
    # And memory is 256 MiB for the host plus each step's `memory:` (512MB) x `workers:` (1)
    memory = {name: d["spec"]["template"]["spec"]["containers"][0]["resources"]
              for name, d in deployments.items()}
    assert memory == {
        "shop-gateway": {"requests": {"cpu": "400m", "memory": "1792Mi"},
                         "limits": {"memory": "1792Mi"}},  # 3 API steps
        "shop-workers": {"requests": {"cpu": "300m", "memory": "1280Mi"},
                         "limits": {"memory": "1280Mi"}},  # 2 event steps
        "shop-cron": {"requests": {"cpu": "200m", "memory": "768Mi"},
                      "limits": {"memory": "768Mi"}},  # 1 cron step
    }
    # And no Secret with values is generated, only the reference and an example of its keys
    assert all(d["kind"] != "Secret" for d in resources(k8s))
    keys = [line.split("=")[0] for line in (k8s / "secrets.env.example").read_text().splitlines()
            if line and not line.startswith("#")]
    assert keys == ["MOTIA_AMQP_URL", "MOTIA_STATE_URL", "MOTIA_WORKBENCH_TOKEN"]


def test_memory_follows_the_workers_and_memory_a_step_declares(tmp_path: Path) -> None:
    # Given the receipt step with 3 workers of 1GB each
    root = example(tmp_path / "shop", app="shop")
    source = root / "motia.yaml"
    source.write_text(source.read_text().replace(
        "    description: Marks the order paid",
        "    workers: 3\n    memory: 1GB\n    description: Marks the order paid"))
    docs = resources(build(root) / "k8s")
    # Then the workers role asks for 256 MiB + 512 MiB (charge) + 3 x 1 GiB
    (workers,) = [d for d in docs if d["metadata"]["name"] == "shop-workers"
                  and d["kind"] == "Deployment"]
    limits = workers["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert limits == {"memory": f"{256 + 512 + 3 * 1024}Mi"}
