"""The pytest plugin motia installs (entry point `pytest11`): the `motia_app` fixture.

    def test_health(motia_app):
        assert motia_app.request("GET", "/__motia/api/health").status == 200

`motia_app` is a `motia.testing.SyncTestApp` for the nearest motia.yaml above the test
file, started on first use and stopped after the test. It needs no configuration and no
asyncio mode: its methods block. Options, most specific last:

- the `motia_options` fixture (override it in a conftest.py for a whole folder),
- `@pytest.mark.motia(project="../app", retries=0, timeout="2s")` on a test or class,
- calling the fixture: `app = motia_app(retries=0)`.

An unknown option fails the test with the list of valid ones.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from motia.testing import SyncTestApp

MARKER = ("motia(project=None, **options): the app the motia_app fixture runs for this "
          "test, e.g. @pytest.mark.motia(retries=0, timeout='2s')")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER)


@pytest.fixture
def motia_options() -> dict[str, Any]:
    """Options for `motia_app` (none): override in a conftest.py to set a folder's."""
    return {}


@pytest.fixture
def motia_app(request: pytest.FixtureRequest,
              motia_options: dict[str, Any]) -> Iterator[SyncTestApp]:
    """The app of the nearest motia.yaml above this test file, running for this test."""
    from motia.testing import SyncTestApp

    options = dict(motia_options)
    for marker in reversed(list(request.node.iter_markers("motia"))):  # closest last
        if marker.args:
            options["project"] = marker.args[0]
        options.update(marker.kwargs)
    project = options.pop("project", None)
    app = SyncTestApp(project, relative_to=request.path.parent, **options)
    try:
        yield app
    finally:
        app.stop()
