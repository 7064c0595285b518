"""The one error every networked store raises when its service cannot be reached."""

from __future__ import annotations

from motia.errors import AdapterUnavailable
from motia.runner._redact import redact

#: how long open() waits for a TCP connection before giving up (seconds)
CONNECT_TIMEOUT = 3.0


def unavailable(service: str, url: str, cause: BaseException) -> AdapterUnavailable:
    """AdapterUnavailable naming the service, the URL, what went wrong and the fix."""
    reason = str(cause) or type(cause).__name__
    return AdapterUnavailable(
        f"{service} state store at {redact(url)} is unreachable ({reason}); "
        f"start {service} or pass --state-url / MOTIA_STATE_URL"
    )
