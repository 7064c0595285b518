"""The Workbench: a single web page served by `motia run` at /__motia/.

It shows the app to people who don't read code (the flows as diagrams, step details
and schemas, live logs, traces, state, dead letters, an endpoint tester) and talks only
to the admin API (runner/admin.py). The page is plain HTML, CSS and a small script of
our own under static/: no CDN, no build step, works with no network access.
"""

from motia.runner.workbench.routes import (
    STATIC_DIR,
    TOKEN_COOKIE,
    add_workbench_routes,
    workbench_auth_middleware,
)

__all__ = ["STATIC_DIR", "TOKEN_COOKIE", "add_workbench_routes", "workbench_auth_middleware"]
