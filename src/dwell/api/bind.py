"""Where the server may listen: without API keys, on loopback only."""

from __future__ import annotations

import ipaddress

import psycopg

from dwell import auth

LOOPBACK_NOTICE = "No API keys: serving without authentication, on loopback only."


class BindRefused(Exception):
    """The server must not start on this address; `message` says why and what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 (also as ::ffff:127.x.y.z) and `localhost`; anything else is not."""
    host = host.strip().strip("[]").rstrip(".").lower()
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False  # other names, "" and wildcards may reach other machines
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def check_bind(host: str, conninfo: str) -> str:
    """A line to print at start, or BindRefused when serving on `host` would be unsafe.

    Without active keys every endpoint is open, so only this machine may reach the server.
    """
    with psycopg.connect(conninfo, autocommit=True) as conn:
        try:
            count = auth.active_key_count(conn)
        except psycopg.errors.UndefinedTable:  # a store not migrated yet has no keys either
            count = 0
    if count:
        return f"API keys: {count} active; requests need `Authorization: Bearer <key>`."
    if is_loopback(host):
        return LOOPBACK_NOTICE
    raise BindRefused(
        f"Refusing to serve on {host or 'all interfaces'} without API keys: anyone who can "
        "reach it could read and upload data. Create a key first with "
        "`dwell keys create --role admin` (send it as `Authorization: Bearer <key>`), "
        "or serve on 127.0.0.1."
    )
