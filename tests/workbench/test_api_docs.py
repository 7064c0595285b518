"""The API documents against the running example app: the OpenAPI document `motia
compile --openapi` writes is valid OpenAPI 3.1, and schemathesis, generating requests
from it, finds no 5xx answer and no response that breaks its documented schema.

The app runs as `motia run` in a subprocess, exactly as a user starts it.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from wb_support import ARTIFACTS, REPO, _require, require_node

from motia.compiler import compile_project
from motia.compiler.openapi import render_openapi

CHECKS = "not_a_server_error,response_schema_conformance"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_healthy(process: subprocess.Popen[str], url: str, log: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"motia run exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/__motia/api/health", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"motia run did not answer on {url} within {timeout}s")


@pytest.fixture(scope="module")
def running_example(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`motia run` of the repository's example app on a free port; yields its URL."""
    require_node()
    port = _free_port()
    log_path = tmp_path_factory.mktemp("motia-run") / "motia-run.log"
    env = {k: v for k, v in os.environ.items() if k != "MOTIA_WORKBENCH_TOKEN"}
    with log_path.open("w") as log:  # a file, not a pipe: a full pipe would stall the app
        process = subprocess.Popen(
            [sys.executable, "-m", "motia", "run", str(REPO), "--port", str(port),
             "--state", "memory", "--events", "memory", "--log-format", "json"],
            cwd=REPO, stdout=log, stderr=subprocess.STDOUT, text=True, env=env,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(process, url, log_path)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def openapi_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    document = render_openapi(compile_project(REPO / "motia.yaml").app)
    path = tmp_path_factory.mktemp("openapi") / "openapi.json"
    path.write_text(json.dumps(document, indent=2))
    return path


def _schemathesis() -> str:
    found = shutil.which("schemathesis", path=str(Path(sys.executable).parent)) or shutil.which("schemathesis")
    _require(found is not None, "schemathesis is not installed (pip install -e '.[test]')")
    assert found is not None
    return found


def test_the_example_openapi_document_is_valid_openapi_3_1(openapi_file: Path) -> None:
    validator = pytest.importorskip("openapi_spec_validator")
    document = json.loads(openapi_file.read_text())
    validator.validate(document)
    assert document["openapi"].startswith("3.1")
    assert set(document["paths"]) == {"/orders", "/orders/{id}", "/stats"}


def test_schemathesis_finds_no_server_error_and_no_response_off_its_schema(
        running_example: str, openapi_file: Path) -> None:
    # Given the example app running and its OpenAPI document
    executable = _schemathesis()
    report = ARTIFACTS / "schemathesis"
    # When schemathesis generates requests from the document and sends them to the app
    result = subprocess.run(
        [executable, "run", str(openapi_file), "--url", running_example, "--checks", CHECKS,
         "--phases", "coverage,fuzzing", "--max-examples", "15", "--workers", "1",
         "--seed", "20240131", "--report", "junit", "--report-dir", str(report)],
        check=False, cwd=openapi_file.parent, capture_output=True, text=True, timeout=300,
        env={**os.environ, "NO_COLOR": "1", "SCHEMATHESIS_TELEMETRY": "false"},
    )
    # Then no answer is a 5xx and every answer matches its documented schema
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "No issues found" in result.stdout
