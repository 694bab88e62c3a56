"""A guard that refuses every network connection outside loopback and configured endpoints.

It wraps `socket.socket.connect`/`connect_ex` and `socket.create_connection`; name lookups of
anything but localhost are refused as well, so a library cannot even resolve a hub's address.
Attempts are recorded in `violations` and raised as `OutsideNetworkAccess`.

The one exception is what the user configured: the remote chat servers in the models list of
the Hearth home under test (`$HEARTH_HOME/models/models.json`, entries with a `url`). Their
host and port may be looked up and connected to, and nothing else.
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
from pathlib import Path
from urllib.parse import urlsplit

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


_resolved: set[tuple[str, int]] = set()
"""Addresses that configured endpoint names resolved to."""


def configured_endpoints() -> set[tuple[str, int]]:
    """(host, port) of every remote model in the Hearth home under test."""
    home = os.environ.get("HEARTH_HOME")
    if not home:
        return set()
    try:
        raw = json.loads((Path(home) / "models" / "models.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    out = set()
    for entry in raw.get("models", []) if isinstance(raw, dict) else []:
        url = entry.get("url") if isinstance(entry, dict) else None
        if not url:
            continue
        try:
            parts = urlsplit(url)
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            continue
        if parts.hostname:
            out.add((parts.hostname.lower(), port))
    return out


def _configured_host(host: object) -> bool:
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    return str(host).lower() in {h for h, _ in configured_endpoints()}


def _check(address: object, family: int | None = None) -> None:
    if family == getattr(socket, "AF_UNIX", object()):
        return
    if isinstance(address, (str, bytes)) and family is None:
        return  # a unix socket path
    host = address[0] if isinstance(address, tuple) and address else address
    if isinstance(address, tuple) and len(address) >= 2:
        target = (str(host).lower(), int(address[1]))
        if target in _resolved or target in configured_endpoints():
            return
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
        if _configured_host(host):
            results = real_getaddrinfo(host, *args, **kwargs)
            for *_, sockaddr in results:
                if isinstance(sockaddr, tuple) and len(sockaddr) >= 2:
                    _resolved.add((str(sockaddr[0]).lower(), int(sockaddr[1])))
            return results
        if not _is_loopback(host):
            violations.append(f"lookup {host!r}")
            raise OutsideNetworkAccess(f"network guard: name lookup of {host!r} refused (offline)")
        return real_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = connect  # type: ignore[method-assign,assignment]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign,assignment]
    socket.getaddrinfo = getaddrinfo
