"""Which Host and Origin values the team server answers (the defence against DNS rebinding and cross-site calls).

The values are parsed by `prompt_alchemy.http_guard` (host and port apart, IPv6 in brackets, no user info) and the
parts are compared with the allowed patterns; nothing is compared by prefix. A pattern is one of:

- `name` or an IP address: that host on no port or on a standard web port (80, 443);
- `name:PORT`: that host on that port; `name:*`: that host on any port;
- `[::1]:*` and the like for IPv6 addresses, in brackets;
- a network in CIDR form (`10.0.0.0/8`): any IP address inside it, on any port. Kubernetes probes and Prometheus
  scrapes send the pod's IP as the Host; a page that rebinds a name cannot make a browser send an IP address, so
  admitting the pod network keeps the protection.

The loopback names are always allowed. Stdlib only: cheap to import.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from prompt_alchemy.http_guard import Authority, parse_host, parse_origin

LOOPBACK_PATTERNS = ("127.0.0.1:*", "localhost:*", "[::1]:*")
_WEB_PORTS = (None, 80, 443)
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class HostPattern:
    """One allowed_hosts entry, parsed: a host (lowercase, IPv6 without brackets) and a port rule, or a network."""

    host: str = ""
    port: int | None = None  # None: no port or a web port
    any_port: bool = False
    network: IPNetwork | None = None

    def admits(self, authority: Authority) -> bool:
        if self.network is not None:
            try:
                return ipaddress.ip_address(authority.host) in self.network
            except ValueError:
                return False
        if authority.host != self.host:
            return False
        if self.any_port:
            return True
        return authority.port in _WEB_PORTS if self.port is None else authority.port == self.port


def parse_pattern(entry: str) -> HostPattern | None:
    """An allowed_hosts entry as a HostPattern; None when it is none of the forms in the module docstring."""
    entry = entry.strip()
    if "/" in entry:
        try:
            return HostPattern(network=ipaddress.ip_network(entry, strict=False))
        except ValueError:
            return None
    any_port = entry.endswith(":*")
    authority = parse_host(entry[:-2] if any_port else entry)
    if authority is None or (any_port and authority.port is not None):
        return None
    return HostPattern(authority.host, authority.port, any_port)


class HostPolicy:
    """The allowed Host and Origin values: the loopback names plus `patterns` (server.allowed_hosts). With
    `check=False` (a server bound beyond loopback with no allowed_hosts) everything is admitted; the server warns."""

    def __init__(self, patterns: Iterable[str], *, check: bool = True) -> None:
        self.check = check
        parsed = [(entry, parse_pattern(entry)) for entry in [*LOOPBACK_PATTERNS, *patterns]]
        bad = [entry for entry, pattern in parsed if pattern is None]
        if bad:
            raise ValueError(
                f"server.allowed_hosts: cannot read {', '.join(repr(b) for b in bad)} (use name, "
                f"name:PORT, name:*, [IPv6]:* or a network such as 10.0.0.0/8)"
            )
        self.patterns = [pattern for _, pattern in parsed if pattern is not None]

    def admits(self, authority: Authority | None) -> bool:
        return authority is not None and any(p.admits(authority) for p in self.patterns)

    def allows_host(self, value: str | None) -> bool:
        """Whether a request's Host header names this server."""
        return not self.check or self.admits(parse_host(value))

    def allows_origin(self, value: str | None) -> bool:
        """Whether a request's Origin (absent: a same-origin or non-browser request) names this server."""
        if not self.check or value is None:
            return True
        parsed = parse_origin(value)
        return parsed is not None and self.admits(parsed[1])
