"""Where a webhook may go: special-purpose address tables, IPv4-in-IPv6 unwrapping, and connections pinned
to the address that was checked (so a second DNS answer cannot point the request somewhere else)."""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import urllib.parse
from dataclasses import dataclass

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# The IANA special-purpose registries (iana-ipv4/ipv6-special-registry), plus multicast and the
# deprecated site-local block. Whole blocks are refused, including the few anycast entries marked
# "globally reachable" (192.0.0.9, AS112, 2620:4f:8000::/48): no webhook receiver lives there, and
# Python's own is_global differs between versions.
SPECIAL_V4 = tuple(ipaddress.IPv4Network(n) for n in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
    "192.0.0.0/24", "192.0.2.0/24", "192.31.196.0/24", "192.52.193.0/24", "192.88.99.0/24",
    "192.168.0.0/16", "192.175.48.0/24", "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24",
    "224.0.0.0/4", "240.0.0.0/4", "255.255.255.255/32"))
SPECIAL_V6 = tuple(ipaddress.IPv6Network(n) for n in (
    "::/128", "::1/128", "64:ff9b:1::/48", "100::/64", "100:0:0:1::/64", "2001::/23", "2001:db8::/32",
    "2620:4f:8000::/48", "3fff::/20", "5f00::/16", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8"))
# IPv6 forms that carry an IPv4 address: the packet ends up at that IPv4 host, so it is what is judged.
_COMPATIBLE = ipaddress.IPv6Network("::/96")  # IPv4-compatible ::a.b.c.d (deprecated, still routed)
_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")  # IPv4-mapped ::ffff:a.b.c.d
_TRANSLATED = ipaddress.IPv6Network("::ffff:0:0:0/96")  # SIIT IPv4-translated ::ffff:0:a.b.c.d
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # well-known NAT64 prefix (RFC 6052)
_SIX_TO_FOUR = ipaddress.IPv6Network("2002::/16")
_TEREDO = ipaddress.IPv6Network("2001::/32")


def embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address stands for (empty when it is plain IPv6)."""
    low32 = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address in _MAPPED or address in _TRANSLATED or address in _NAT64:
        return [low32]
    if address in _COMPATIBLE and int(address) > 1:  # :: and ::1 are themselves special
        return [low32]
    if address in _SIX_TO_FOUR:
        return [ipaddress.IPv4Address((int(address) >> 80) & 0xFFFFFFFF)]
    if address in _TEREDO and address.teredo:
        server, client = address.teredo
        return [server, client]
    if (int(address) >> 32) & 0xFDFFFFFF == 0x5EFE:  # ISATAP interface id ::0:5efe:a.b.c.d (or 200:5efe)
        return [low32]
    return []


def refusal(address: Address) -> str | None:
    """Why a callback to this address is refused, or None when it is an ordinary public address."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id:
            return "scoped to a local interface"
        for inner in embedded_ipv4(address):
            reason = refusal(inner)
            if reason:
                return f"embeds {inner}: {reason}"
        if any(address in net for net in SPECIAL_V6):
            return "special-purpose IPv6 range"
    elif any(address in net for net in SPECIAL_V4):
        return "special-purpose IPv4 range"
    if not address.is_global:
        return "not globally reachable"
    return None


class BlockedDestination(Exception):
    pass


@dataclass(frozen=True)
class Destination:
    """A checked URL: where to connect (``addresses``) and what to say (``host`` for Host and SNI)."""

    scheme: str
    host: str
    port: int
    target: str  # path and query, as sent on the request line
    addresses: tuple[str, ...]


def resolve(url: str, allow_private: bool) -> Destination:
    """Resolve once and check every answer; the request then goes to these addresses only."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise BlockedDestination(f"not an http(s) URL: {url!r}")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos = socket.getaddrinfo(parts.hostname, port, proto=socket.IPPROTO_TCP)
    except (OSError, ValueError) as exc:
        raise BlockedDestination(f"cannot resolve {parts.hostname}: {exc}") from exc
    addresses: list[str] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]))  # keeps a %scope, which refusal() rejects
        reason = None if allow_private else refusal(address)
        if reason:
            raise BlockedDestination(f"{parts.hostname} resolves to the non-public address {address} "
                                     f"({reason}; set KIWAME_WEBHOOK_ALLOW_PRIVATE=1 to allow it)")
        if str(address) not in addresses:
            addresses.append(str(address))
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    return Destination(parts.scheme, parts.hostname, port, target, tuple(addresses))


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float, context: ssl.SSLContext) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        # SNI and certificate checks use the URL's host name, not the address connected to.
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


def post(dest: Destination, body: bytes, headers: dict[str, str], timeout: float,
         context: ssl.SSLContext | None = None) -> int:
    """POST to the first checked address that accepts a connection; returns the status (no redirects)."""
    last: OSError | None = None
    for address in dest.addresses:
        conn: http.client.HTTPConnection
        if dest.scheme == "https":
            conn = _PinnedHTTPS(dest.host, dest.port, address, timeout, context or ssl.create_default_context())
        else:
            conn = _PinnedHTTP(dest.host, dest.port, address, timeout)
        try:
            conn.connect()
        except OSError as exc:
            conn.close()
            last = exc
            continue
        try:
            # http.client sends Host from the URL's host (and port when not the default).
            conn.request("POST", dest.target, body=body, headers=headers)
            response = conn.getresponse()
            response.read(64 * 1024)  # the receiver's body is not used; do not wait for a huge one
            return response.status
        finally:
            conn.close()
    raise last or OSError(f"no address to connect to for {dest.host}")
