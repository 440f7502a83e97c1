"""`HOST:PORT` and `[IPv6]:PORT`, read one way for `chf run --wan`, `chf send --wan` and a bench file's `wan` key."""

from __future__ import annotations

import ipaddress


def parse_host_port(text: str) -> tuple[str, int]:
    """(host, port) from `HOST:PORT` or `[IPv6]:PORT` (port 0-65535); ValueError saying what is wrong.

    An IPv6 address must be in brackets (`[::1]:4059`: without them the last colon is ambiguous), and brackets
    must hold an IPv6 address and be closed (`[::1:0` is refused)."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or len(port) > 5 or int(port) > 65535:
        raise ValueError(f"HOST:PORT (port 0-65535) expected, got {text!r}")
    if host.startswith("[") or host.endswith("]"):
        inner = host[1:-1] if host.startswith("[") and host.endswith("]") else None
        try:
            if inner is None:
                raise ValueError
            ipaddress.IPv6Address(inner)
        except ValueError:
            raise ValueError(f"[IPv6]:PORT expected (an IPv6 address in closed brackets), got {text!r}") from None
        host = inner
    elif "[" in host or "]" in host:
        raise ValueError(f"HOST:PORT expected, got {text!r} (stray bracket)")
    elif ":" in host:
        raise ValueError(f"an IPv6 address goes in brackets, [ADDRESS]:PORT, got {text!r}")
    if not host or any(c.isspace() for c in host):
        raise ValueError(f"HOST:PORT expected (a host name or address before the colon), got {text!r}")
    return host, int(port)
