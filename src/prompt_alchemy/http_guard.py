"""Host and Origin parsing for the local HTTP apps (the defence against DNS rebinding and cross-site requests).

A Host header, an Origin or a Referer is parsed into its parts and the parts are compared; nothing is compared by
prefix or by substring, so `127.0.0.1:8765@evil.example`, `127.0.0.1.evil.example` or `127.0.0.1:87650` never pass
for `127.0.0.1:8765`. Pure functions, standard library only: any app can import them.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

#: The names a loopback-only app answers to (besides its bound address itself).
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})
DEFAULT_PORTS = {"http": 80, "https": 443}

_NAME = re.compile(r"^([A-Za-z0-9](?:[A-Za-z0-9-]{0,62})(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}))*)\.?(?::(\d{1,5}))?$")
_BRACKETED = re.compile(r"^\[([0-9A-Fa-f:.]{2,45})\](?::(\d{1,5}))?$")


@dataclass(frozen=True)
class Authority:
    """A parsed `host[:port]`: the host lowercased (an IPv6 address without brackets), the port if one was given."""

    host: str
    port: int | None


def parse_host(value: str | None) -> Authority | None:
    """`value` as a Host header (`name`, `IPv4`, `[IPv6]`, each with an optional `:port`), or None when it is not
    exactly that: empty, with user info (`@`), a path, spaces, a bad port or an unbracketed IPv6 address."""
    if not value or len(value) > 300:
        return None
    match = _BRACKETED.match(value)
    if match:
        try:
            host = str(ipaddress.IPv6Address(match.group(1)))
        except ValueError:
            return None
    else:
        match = _NAME.match(value)
        if match is None:
            return None
        host = match.group(1).lower()
    port = match.group(2)
    if port is None:
        return Authority(host, None)
    number = int(port)
    return Authority(host, number) if 0 < number <= 65535 else None


def parse_origin(value: str | None) -> tuple[str, Authority] | None:
    """An Origin header (`scheme://host[:port]`, nothing after it) as (scheme, authority with its port filled in
    from the scheme's default); None for `null`, another scheme or anything malformed."""
    if not value or "://" not in value:
        return None
    scheme, _, rest = value.partition("://")
    scheme = scheme.lower()
    if scheme not in DEFAULT_PORTS:
        return None
    authority = parse_host(rest)
    if authority is None:
        return None
    return scheme, Authority(authority.host, authority.port or DEFAULT_PORTS[scheme])


def referer_origin(value: str | None) -> tuple[str, Authority] | None:
    """The origin a Referer URL names (as `parse_origin`), or None when it is not an http(s) URL with a plain
    host (user info in it is refused)."""
    if not value:
        return None
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    return parse_origin(f"{parts.scheme}://{parts.netloc}") if parts.scheme and parts.netloc else None


def is_local_authority(authority: Authority | None, port: int, *, default_port: int = 80) -> bool:
    """Whether `authority` names this machine's loopback app on `port`: a loopback name and that port (a Host
    without a port means `default_port`)."""
    if authority is None or authority.host not in LOOPBACK_NAMES:
        return False
    return (authority.port if authority.port is not None else default_port) == port
