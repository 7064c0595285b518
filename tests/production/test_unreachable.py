"""`motia run` against a broker or store that is not there: a fast exit with one paragraph
naming the URL and the fix, never a traceback, never a half-started runner."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from ._cluster import Project

pytestmark = pytest.mark.services

APP_YAML = """
    version: 1
    app: {app}
    schemas:
      Job: {type: object}
    topics:
      job.created: {schema: Job}
    flows:
      jobs: {}
    steps:
      work:
        type: event
        subscribes: [job.created]
        flows: [jobs]
        handler: steps/work.py
"""

HANDLER = "async def handler(data, ctx):\n    pass\n"

CASES = {
    "rabbitmq": (
        ["--events", "rabbitmq", "--amqp-url", "amqp://guest:secret@127.0.0.1:1/",
         "--state", "memory"],
        (r"motia: error: RabbitMQ is not reachable at amqp://guest:\*\*\*@127\.0\.0\.1:1/ "
        r"\(.+\): start RabbitMQ \(e\.g\. `rabbitmq-server -detached`\) or set "
        r"MOTIA_AMQP_URL to a broker's URL\n"),
    ),
    "redis": (
        ["--state", "redis", "--state-url", "redis://127.0.0.1:1/0"],
        (r"motia: error: Redis state store at redis://127\.0\.0\.1:1/0 is unreachable \(.+\); "
        r"start Redis or pass --state-url / MOTIA_STATE_URL\n"),
    ),
    "postgres": (
        ["--state", "postgres", "--state-url", "postgresql://127.0.0.1:1/test"],
        (r"motia: error: PostgreSQL state store at postgresql://127\.0\.0\.1:1/test is "
        r"unreachable \(.+\); start PostgreSQL or pass --state-url / MOTIA_STATE_URL\n"),
    ),
}


@pytest.mark.parametrize("service", sorted(CASES))
def test_an_unreachable_service_stops_the_runner_with_the_url_and_the_fix(
    tmp_path: Path, service: str,
) -> None:
    # Given a project and a URL where nothing listens
    project = Project(tmp_path / "app", APP_YAML, {"steps/work.py": HANDLER})
    flags, message = CASES[service]
    # When `motia run` is pointed at it
    done = subprocess.run(
        [sys.executable, "-m", "motia", "run", str(project.root), "--port", "0", *flags],
        capture_output=True, text=True, timeout=30, check=False)
    # Then it exits non-zero with one paragraph naming the URL and the fix
    assert done.returncode != 0
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert re.fullmatch(message, done.stderr), done.stderr
