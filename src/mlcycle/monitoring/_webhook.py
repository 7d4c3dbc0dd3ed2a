"""Posting alerts to a webhook without opening a way into the network around mlcycle.

Whoever writes a rules file, or controls the DNS of the host it names, chooses where the
monitor connects. Two guards keep that choice to hosts a team posts alerts to:

- **No redirect is followed.** A 3xx answer is a failed delivery, reported with its status
  and where it pointed, so an allowed host cannot bounce the post to an internal one.
- **Link-local, unspecified, multicast and reserved addresses are refused**, and the known
  cloud metadata addresses: on a literal address when the rules are read, and on every
  address the host name resolves to just before posting. The connection then goes to the
  address that was checked, so a DNS answer that changes in between (rebinding) gains
  nothing. Proxies from the environment are not used: behind one the check would be void.

Loopback and private addresses (RFC 1918, unique-local IPv6) stay allowed on purpose:
teams post to Slack relays and Alertmanager inside their own network, and a receiver on
127.0.0.1 is how alerting is tried out. Link-local never is: nothing a team runs for alerts
listens there, while the cloud metadata service (169.254.169.254), which hands out
credentials, does.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
from typing import NamedTuple
from urllib.parse import urlsplit

__all__ = ["Response", "address_problem", "literal_address_problem", "post_json"]

# Metadata services outside the link-local ranges: AWS over IPv6, Alibaba Cloud.
_METADATA = frozenset(ipaddress.ip_address(a) for a in ("fd00:ec2::254", "100.100.100.200"))
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class Response(NamedTuple):
    """What a post came to: the HTTP status (None when no answer came), the reason it
    failed (None on 2xx) and whether posting again could change that."""

    status: int | None
    error: str | None
    retry: bool


class _RefusedAddress(OSError):
    """A host name resolved to an address webhooks must not reach."""


def address_problem(address: str) -> str | None:
    """Why a webhook must not connect to the IP ``address``, or None if it may."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address):  # IPv4 addresses wrapped in IPv6 count as such
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        ip = embedded or ip
    if ip.is_loopback:
        return None
    if ip.is_link_local or ip in _METADATA:
        return "is a link-local or cloud metadata address"
    if ip.is_unspecified or ip.is_multicast or ip.is_reserved:
        return "is an unspecified, multicast or reserved address"
    return None


def literal_address_problem(host: str | None) -> str | None:
    """:func:`address_problem` of ``host`` when it is an IP address in any notation
    (``169.254.169.254``, ``2852039166``, ``[::ffff:a9fe:a9fe]``); names are checked when
    posting, since DNS answers when the rules are read prove nothing about later ones."""
    if not host:
        return None
    try:
        infos = socket.getaddrinfo(host, None, flags=socket.AI_NUMERICHOST)
    except (socket.gaierror, UnicodeError):
        return None  # a name, not an address
    for info in infos:
        problem = address_problem(str(info[4][0]))
        if problem:
            return f"points at {info[4][0]}, which {problem}"
    return None


def _connect(host: str, port: int, timeout: float) -> socket.socket:
    """A socket connected to one of ``host``'s addresses, all of them checked first."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    for info in infos:
        problem = address_problem(str(info[4][0]))
        if problem:
            raise _RefusedAddress(f"{host} resolves to {info[4][0]}, which {problem}")
    error: OSError = OSError(f"{host} resolves to no address")
    for family, kind, proto, _, address in infos:
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(timeout)
            sock.connect(address)
        except OSError as exc:
            sock.close()
            error = exc
        else:
            return sock
    raise error


class _CheckedHTTP(http.client.HTTPConnection):
    def connect(self) -> None:
        self.sock = _connect(self.host, self.port, float(self.timeout))  # type: ignore[arg-type]


class _CheckedHTTPS(http.client.HTTPSConnection, _CheckedHTTP):
    """TLS over :class:`_CheckedHTTP`'s socket: ``HTTPSConnection.connect`` calls it first."""


def post_json(url: str, body: bytes, timeout: float) -> Response:
    """POST ``body`` as JSON to an http(s) ``url`` with the guards above; never raises."""
    parts = urlsplit(url)
    https = parts.scheme == "https"
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        # The port is always given: http.client would read an IPv6 host's last group as one.
        port = parts.port or (443 if https else 80)
        connection_class = _CheckedHTTPS if https else _CheckedHTTP
        connection = connection_class(parts.hostname or "", port, timeout=timeout)
        try:
            connection.request(
                "POST",
                target,
                body=body,
                headers={"Content-Type": "application/json", "User-Agent": "mlcycle-alerts"},
            )
            response = connection.getresponse()
            status, reason = response.status, response.reason
            location = response.getheader("Location")
        finally:
            connection.close()
    except _RefusedAddress as exc:
        return Response(None, f"refused: {exc}", retry=False)
    except (OSError, http.client.HTTPException, ValueError) as exc:
        return Response(None, f"{type(exc).__name__}: {exc}", retry=True)
    if 200 <= status < 300:
        return Response(status, None, retry=False)
    if 300 <= status < 400:
        where = (urlsplit(location).hostname or "the same host") if location else "nowhere"
        return Response(
            status,
            f"HTTP {status} {reason}: a redirect (to {where}), not followed; "
            "give the webhook's final URL",
            retry=False,
        )
    # The receiver refused the request (4xx but 429): sending it again changes nothing.
    return Response(status, f"HTTP {status} {reason}", retry=status >= 500 or status == 429)
