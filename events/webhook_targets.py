"""Where a webhook may be sent: an https URL whose host resolves to public addresses only.

A URL is checked when an administrator registers it, and its host is resolved again before
every delivery: the request then goes to the very address that was checked (the connection
is pinned to it, with the host name kept for TLS and the Host header), so a DNS answer that
changes between the check and the connection cannot point a delivery inside the network.
"""

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from store import InvalidInput

MAX_URL_LENGTH = 2_000
_FIELD = ("input", "url")


class UnsafeTarget(Exception):
    """The target resolves to an address deliveries may not reach."""


@dataclass(frozen=True, slots=True)
class Target:
    """A delivery's destination, pinned: connect to `address`, speak to `host`."""

    url: str
    host: str
    address: str


def check_url(url: str, *, allow_private: bool) -> str:
    """`url` cleaned, or InvalidInput: https (http too where private targets are allowed,
    for development), a host name, no credentials, no fragment."""
    url = url.strip()
    if not url or len(url) > MAX_URL_LENGTH:
        raise InvalidInput(f"Give the endpoint's URL (at most {MAX_URL_LENGTH} characters).",
                           field=_FIELD)
    parts = urlsplit(url)
    schemes = {"https", "http"} if allow_private else {"https"}
    if parts.scheme not in schemes:
        raise InvalidInput("The endpoint's URL must start with https://.", field=_FIELD)
    if not parts.hostname or parts.username or parts.password or parts.fragment:
        raise InvalidInput("The URL needs a host, and no user, password or #fragment.",
                           field=_FIELD)
    try:
        _ = parts.port
    except ValueError:
        raise InvalidInput("The URL's port is not valid.", field=_FIELD) from None
    return url


async def resolve(url: str, *, allow_private: bool) -> Target:
    """The pinned target of `url`; UnsafeTarget when its host resolves to a private,
    loopback, link-local or otherwise non-public address (unless allowed), or not at all."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        found = await asyncio.get_running_loop().getaddrinfo(
            host, port, type=socket.SOCK_STREAM)
    except OSError as error:
        raise UnsafeTarget(f"{host} does not resolve: {error}") from None
    addresses = [str(info[4][0]) for info in found]
    if not addresses:
        raise UnsafeTarget(f"{host} does not resolve")
    if not allow_private:
        for address in addresses:
            ip = ipaddress.ip_address(address.split("%")[0])
            if not ip.is_global or ip.is_multicast:
                raise UnsafeTarget(f"{host} resolves to {ip}, which is not a public address")
    return Target(url=url, host=host, address=addresses[0])


async def check_target(url: str, *, allow_private: bool) -> str:
    """check_url, then the host must resolve to allowed addresses (InvalidInput if not)."""
    url = check_url(url, allow_private=allow_private)
    try:
        await resolve(url, allow_private=allow_private)
    except UnsafeTarget as error:
        raise InvalidInput(f"Deliveries cannot go there: {error}.", field=_FIELD) from None
    return url
