"""Where a webhook may point (API-03): http(s) URLs without credentials, whose host resolves
only to public addresses unless the install allows private targets. A CRM that posts to any
URL an admin types would otherwise probe its own network (cloud metadata, intranet admin
pages); the check runs when an endpoint is saved and again before every attempt, because DNS
answers change."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from guanxi.errors import FieldError
from guanxi.i18n import Message, _

URL_MAX = 2000
SCHEMES = ("http", "https")
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class TargetRefused(Exception):
    """The URL may not be called; `error` says why, naming the url field."""

    def __init__(self, error: FieldError) -> None:
        super().__init__(error.message.render("en"))
        self.error = error


@dataclass(frozen=True)
class Target:
    """A checked URL and the address to connect to (None: let the client resolve it, which
    only happens when private targets are allowed)."""

    url: str
    host: str
    address: str | None


def _refuse(code: str, message: Message) -> TargetRefused:
    return TargetRefused(FieldError("url", code, message))


def check_syntax(url: str) -> tuple[str, int]:
    """(host, port) of an acceptable URL, else TargetRefused: scheme, host, no credentials."""
    if not url:
        raise _refuse("required", _("The URL is required"))
    if len(url) > URL_MAX:
        raise _refuse("too_long", _("The URL may be at most {max} characters", max=URL_MAX))
    if any(ch.isspace() for ch in url):
        raise _refuse("bad_url", _("The URL may not contain spaces"))
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise _refuse("bad_url", _("The URL is not valid")) from None
    if parts.scheme.lower() not in SCHEMES:
        raise _refuse("bad_scheme", _("The URL must start with http:// or https://"))
    if parts.username is not None or parts.password is not None:
        raise _refuse(
            "credentials", _("The URL may not contain a user name or password; use the secret")
        )
    host = parts.hostname or ""
    if not host:
        raise _refuse("bad_url", _("The URL needs a host name"))
    return host, port or (443 if parts.scheme.lower() == "https" else 80)


def is_public(address: Address) -> bool:
    """Globally routable unicast: not private, loopback, link-local, reserved, shared
    (100.64/10), multicast or unspecified; IPv4 inside IPv6 is judged as IPv4."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            address = embedded
    return address.is_global and not address.is_multicast


# IPv6 ranges that carry an IPv4 address a gateway may forward to (NAT64, 6to4, the old
# IPv4-compatible form): judged by the IPv4 address inside, so 64:ff9b::a00:1 is 10.0.0.1.
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if any(address in network for network in _NAT64) or address in _IPV4_COMPATIBLE:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def resolve(host: str, port: int) -> list[Address]:
    """Every address the host resolves to now (an IP literal is its own answer)."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise _refuse("unknown_host", _("The host {host} could not be found", host=host)) from None
    found: list[Address] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in found:
            found.append(address)
    return found


def check(url: str, *, allow_private: bool) -> Target:
    """The URL checked for calling now; refused with a reason naming the url field.

    Without `allow_private` every resolved address must be public (one private answer among
    public ones is refused too: the client could pick it), and the caller connects to the
    checked address, so a second, different DNS answer cannot slip in between."""
    host, port = check_syntax(url)
    if allow_private:
        return Target(url, host, None)
    addresses = resolve(host, port)
    if not addresses:
        raise _refuse("unknown_host", _("The host {host} could not be found", host=host))
    if not all(is_public(address) for address in addresses):
        raise _refuse(
            "private_target",
            _(
                "The host {host} is a private, loopback or reserved address; webhooks may "
                "only call public addresses",
                host=host,
            ),
        )
    return Target(url, host, str(addresses[0]))
