"""The callback guard: which callback URLs a timer may name, and where
a callback may connect.

At create time only what the URL itself shows is checked: an address
literal, or a host name that always means this machine. A host name that
resolves to a private address passes there; the address guard refuses it
at send time, on the addresses the name resolves to right before the
connection is made, so that a name cannot turn private after the check.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from urllib.parse import urlsplit

_LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})

# Cloud metadata services answer on these even where they look public.
_METADATA_ADDRESSES = frozenset({ipaddress.ip_address("100.100.100.200")})


def is_private_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether *address* is loopback, private, link-local or otherwise not public."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped

    return (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or address in _METADATA_ADDRESSES
    )


_REFUSED = (
    "a loopback, private or link-local address "
    "(callbacks.allow_private_networks is off)"
)


def make_address_guard(*, allow_private: bool) -> Callable[[str], str | None] | None:
    """Return the guard of the addresses a callback connects to.

    :return: ``None`` if *allow_private*: every address is allowed.
    """
    if allow_private:
        return None

    def guard(text: str) -> str | None:
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            # Not an address this guard can judge, so not one to trust.
            return f"is not an IP address ({text!r})"

        return _REFUSED if is_private_address(address) else None

    return guard


def make_url_guard(*, allow_private: bool) -> Callable[[str], str | None]:
    """Return the guard for create time; it allows everything if *allow_private*."""

    def guard(url: str) -> str | None:
        if allow_private:
            return None

        host = (urlsplit(url).hostname or "").rstrip(".").lower()
        if host in _LOCAL_NAMES or host.endswith(".localhost"):
            return (
                "must not point at this machine "
                "(callbacks.allow_private_networks is off)"
            )

        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return None

        if is_private_address(address):
            return (
                "must not point at a loopback, private or link-local address "
                "(callbacks.allow_private_networks is off)"
            )

        return None

    return guard
