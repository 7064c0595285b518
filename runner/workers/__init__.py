"""Step workers: every step's handler in its own long-lived process (Python or Node.js).

`WorkerPool` (pool.py) is the host side the runtime calls; `python_worker.py` and
`node_worker.js` are the programs that run in the worker processes; PROTOCOL.md is the
wire protocol between them. The worker processes import this package too, so it stays
empty of heavy imports: `WorkerPool` is loaded on first access.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from motia.runner.workers.pool import WorkerPool

__all__ = ["WorkerPool"]


def __getattr__(name: str) -> Any:
    if name == "WorkerPool":
        from motia.runner.workers.pool import WorkerPool

        return WorkerPool
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
