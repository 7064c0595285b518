"""The one error every networked store raises when its service cannot be reached."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from motia.errors import AdapterUnavailable

#: how long open() waits for a TCP connection before giving up (seconds)
CONNECT_TIMEOUT = 3.0


def redact(url: str) -> str:
    """The URL without its password, fit for a message or a log line."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        user = parts.username or ""
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc))
    except ValueError:
        return "<unparsable URL>"


def unavailable(service: str, url: str, cause: BaseException) -> AdapterUnavailable:
    """AdapterUnavailable naming the service, the URL, what went wrong and the fix."""
    reason = str(cause) or type(cause).__name__
    return AdapterUnavailable(
        f"{service} state store at {redact(url)} is unreachable ({reason}); "
        f"start {service} or pass --state-url / MOTIA_STATE_URL"
    )
