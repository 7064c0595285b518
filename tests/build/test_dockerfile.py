"""The generated Dockerfile parses (dockerfile-parse), installs the project and the Motia
that built it, runs as non-root, compiles at build time and names each role's command."""

from __future__ import annotations

from pathlib import Path

import yaml
from _projects import build, example
from dockerfile_parse import DockerfileParser


def parsed(deploy: Path) -> DockerfileParser:
    # given a path, the parser reads that file (without one it would write ./Dockerfile)
    return DockerfileParser(str(deploy / "Dockerfile"))


def instructions(parser: DockerfileParser) -> list[tuple[str, str]]:
    return [(i["instruction"], i["value"]) for i in parser.structure
            if i["instruction"] != "COMMENT"]


def test_the_example_image_has_node_runs_as_motia_and_compiles(tmp_path: Path) -> None:
    # Given the example app (it has Node.js handlers)
    deploy = build(example(tmp_path / "shop", app="shop"))
    docker = parsed(deploy)
    steps = instructions(docker)
    # Then Node 20 comes from its own stage and the final image is Python 3.11
    assert docker.parent_images == ["node:20-bookworm-slim", "python:3.11-slim-bookworm"]
    assert ("COPY", "--from=node /usr/local/bin/node /usr/local/bin/node") in steps
    # And it installs the wheel of this Motia that `motia build` put beside it
    wheel = next(deploy.glob("motia-*-py3-none-any.whl")).name
    assert ("RUN", f"pip install /tmp/{wheel} && rm /tmp/{wheel}") in steps
    # And it drops root before compiling the project, then health-checks itself
    user = steps.index(("USER", "motia"))
    assert steps.index(("RUN", "motia compile")) > user
    assert ("HEALTHCHECK", '--interval=10s --timeout=5s --start-period=60s --retries=3 '
            'CMD ["motia", "probe"]') in steps
    # And its labels name exactly the commands compose.yaml runs for each role
    services = yaml.safe_load((deploy / "compose.yaml").read_text())["services"]
    assert docker.labels == {f"dev.motia.role.{role}": " ".join(services[role]["command"])
                             for role in ("gateway", "workers", "cron")}
    # And the build context leaves secrets and local clutter out, but not the wheel
    ignore = (deploy / "Dockerfile.dockerignore").read_text().splitlines()
    assert {".venv", ".git", "deploy", f"!deploy/{wheel}"} <= set(ignore)


def test_requirements_and_package_json_are_installed_when_present(tmp_path: Path) -> None:
    # Given a project with requirements.txt and package.json
    root = example(tmp_path / "shop", app="shop")
    (root / "requirements.txt").write_text("httpx\n")
    (root / "package.json").write_text('{"name": "shop", "dependencies": {}}\n')
    steps = instructions(parsed(build(root)))
    # Then both are installed, the node modules in a stage of their own
    assert ("COPY", "requirements.txt ./") in steps
    assert ("RUN", "pip install -r requirements.txt") in steps
    assert ("FROM", "node AS node-modules") in steps
    assert ("COPY", "--from=node-modules --chown=motia:motia /app/node_modules ./node_modules"
            ) in steps


def test_a_python_only_project_gets_no_node(tmp_path: Path) -> None:
    # Given a project without Node.js handlers
    root = tmp_path / "py"
    root.mkdir()
    (root / "motia.yaml").write_text(
        "version: 1\napp: py-only\nflows: {f: {}}\nsteps:\n  hello:\n    type: api\n"
        "    method: GET\n    path: /hello\n    flows: [f]\n    handler: steps/hello.py\n")
    (root / "steps").mkdir()
    (root / "steps" / "hello.py").write_text("async def handler(req, ctx):\n    return 'hi'\n")
    (root / "pyproject.toml").write_text("[project]\nname = 'py-only'\nversion = '1'\n")
    deploy = build(root)
    docker = parsed(deploy)
    # Then the image is Python alone, installs the project's package, and serves one role
    assert docker.parent_images == ["python:3.11-slim-bookworm"]
    assert ("RUN", "pip install .") in instructions(docker)
    assert docker.labels == {"dev.motia.role.gateway": "motia run --role gateway --eager"}
    assert sorted(p.name for p in (deploy / "k8s").glob("*.yaml")) == [
        "configmap.yaml", "gateway.yaml", "kustomization.yaml"]
