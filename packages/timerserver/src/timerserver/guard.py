"""The callback guard: which callback URLs a timer may name.

At create time only what the URL itself shows is checked: an address
literal, or a host name that always means this machine. A host name that
resolves to a private address passes here.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from urllib.parse import urlsplit

# TODO: check the resolved address again at send time, so that a name that
# resolves to a private address (DNS rebinding) is refused as well.

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
