"""Where a webhook may post results, and how its URL may be shown. Apart from the sink itself,
so that checking a webhook at submit loads no HTTP client."""

from __future__ import annotations

import ipaddress
import os
import socket
from urllib.parse import urlsplit

# Receivers on this machine or its private network are refused unless this is set: a webhook
# URL must not become a way to reach what only the worker's machine can (a cloud's metadata
# service at 169.254.169.254, an admin port on localhost).
ALLOW_PRIVATE_VARIABLE = "HALFRATE_WEBHOOK_ALLOW_PRIVATE"


def safe_url(url: str) -> str:
    """``url`` without user, password, query and fragment: fit for reasons and logs (webhook
    services put their tokens in the query)."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return f"{parts.scheme}://{host}{parts.path}"


def refused_host(url: str) -> str | None:
    """Why results may not be posted to ``url``'s host (it is, or resolves to, a loopback,
    private, link-local or otherwise non-public address), or None. A host that does not resolve
    now is not refused here: the post will fail, and is tried again."""
    if os.environ.get(ALLOW_PRIVATE_VARIABLE, "").strip().lower() in ("1", "true", "yes"):
        return None
    host = urlsplit(url).hostname or ""
    try:
        found = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return None
    for *_, address in found:
        ip = ipaddress.ip_address(str(address[0]).split("%")[0])
        if not ip.is_global:
            return (
                f"{host} is not a public address ({ip}): a receiver on this machine or its "
                f"network needs {ALLOW_PRIVATE_VARIABLE}=1"
            )
    return None
