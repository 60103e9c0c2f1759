"""Who is asking: the client's address and scheme, believing ``X-Forwarded-For`` and
``X-Forwarded-Proto`` only when the connection comes from a proxy the operator trusts.

The ``trusted_proxies`` setting lists addresses and networks (default: none, so the headers are
ignored and the peer of the TCP connection is the client). When the peer is trusted,
``X-Forwarded-For`` is walked from right to left, skipping trusted proxies: the first address
that is not one of them is the client. Entries left of it were written by the client itself
and are never believed (the usual rule, as in nginx's ``real_ip_recursive``).
"""

from __future__ import annotations

import ipaddress

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None


class Proxies:
    """``client(peer, forwarded_for)`` and ``scheme(peer, forwarded_proto, default)``."""

    def __init__(self, entries: list[str]) -> None:
        self.networks: list[Network] = [ipaddress.ip_network(e, strict=False) for e in entries]

    def trusts(self, host: str) -> bool:
        found = _address(host)
        return found is not None and any(found in network for network in self.networks)

    def client(self, peer: str, forwarded_for: str) -> str:
        """The client's address: the peer, unless a trusted peer forwarded the request."""
        if not self.networks or not forwarded_for or not self.trusts(peer):
            return peer
        nearest = peer
        for hop in reversed(forwarded_for.split(",")):
            found = _address(hop)
            if found is None:  # garbage: stop at the last hop we could read
                return nearest
            nearest = str(found)
            if not self.trusts(nearest):
                return nearest
        return nearest  # every hop is a proxy of ours: the leftmost one asked

    def scheme(self, peer: str, forwarded_proto: str, default: str) -> str:
        """``http`` or ``https`` as the trusted proxy saw it (its last value), else ``default``."""
        if not forwarded_proto or not self.trusts(peer):
            return default
        value = forwarded_proto.split(",")[-1].strip().lower()
        return value if value in ("http", "https") else default
