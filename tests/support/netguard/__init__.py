"""A guard that refuses every network connection outside loopback.

It wraps `socket.socket.connect`/`connect_ex` and `socket.create_connection`; name lookups of
anything but localhost are refused as well, so a library cannot even resolve a hub's address.
Attempts are recorded in `violations` and raised as `OutsideNetworkAccess`.
"""

from __future__ import annotations

import ipaddress
import socket

violations: list[str] = []

_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", ""}


class OutsideNetworkAccess(ConnectionRefusedError):
    """Raised on any attempt to reach beyond loopback while the guard is on."""


def _is_loopback(host: object) -> bool:
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    host = str(host)
    if host in _LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _check(address: object, family: int | None = None) -> None:
    if family == getattr(socket, "AF_UNIX", object()):
        return
    if isinstance(address, (str, bytes)) and family is None:
        return  # a unix socket path
    host = address[0] if isinstance(address, tuple) and address else address
    if not _is_loopback(host):
        violations.append(repr(address))
        raise OutsideNetworkAccess(f"network guard: connection to {address!r} refused (offline)")


_installed = False


def install() -> None:
    global _installed
    if _installed:
        return
    _installed = True
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def connect(self: socket.socket, address: object) -> None:
        _check(address, self.family)
        return real_connect(self, address)  # type: ignore[arg-type]

    def connect_ex(self: socket.socket, address: object) -> int:
        _check(address, self.family)
        return real_connect_ex(self, address)  # type: ignore[arg-type]

    def getaddrinfo(host, *args, **kwargs):
        if not _is_loopback(host):
            violations.append(f"lookup {host!r}")
            raise OutsideNetworkAccess(f"network guard: name lookup of {host!r} refused (offline)")
        return real_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = connect  # type: ignore[method-assign,assignment]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign,assignment]
    socket.getaddrinfo = getaddrinfo
