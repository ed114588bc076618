"""API keys: create, list, revoke and verify them in the `api_keys` table.

A key reads `dwl_<8 hex>_<43 url-safe chars>`: the head (`dwl_<8 hex>`) is stored as the
key's `prefix`, shown in listings and used to find the row; the whole key is stored only as
its SHA-256 (see migrations/0003_api_keys.sql for why a fast hash is right here). The
functions run on the caller's connection; writes happen inside `conn.transaction()`, so
they are committed at once on an autocommit connection (the API's pool, the CLI's).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import psycopg
from psycopg.rows import class_row

# Ordered: each role may do everything the roles before it may.
ROLES: tuple[str, ...] = ("viewer", "uploader", "admin")
KEY_PREFIX = "dwl_"
SECRET_BYTES = 32
LAST_USED_RESOLUTION = timedelta(minutes=1)  # last_used_at is written at most once a minute per key

_KEY_SHAPE = re.compile(r"^(dwl_[0-9a-f]{8})_[A-Za-z0-9_-]{43}$")
_COLUMNS = "id, name, role, prefix, created_at, last_used_at, revoked_at"


@dataclass(frozen=True)
class KeyInfo:
    """What may be shown about a key: everything but the secret and its hash."""

    id: int
    name: str | None
    role: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def role_allows(have: str, need: str) -> bool:
    """Whether a key with role `have` may do what needs role `need` (viewer < uploader < admin)."""
    if need not in ROLES:
        raise ValueError(f"unknown role {need!r}; roles are {', '.join(ROLES)}")
    return have in ROLES and ROLES.index(have) >= ROLES.index(need)


def key_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _new_secret() -> tuple[str, str]:
    prefix = f"{KEY_PREFIX}{secrets.token_hex(4)}"
    return prefix, f"{prefix}_{secrets.token_urlsafe(SECRET_BYTES)}"


def create_key(conn: psycopg.Connection, role: str, name: str | None = None) -> tuple[KeyInfo, str]:
    """A new key with `role`; returns its description and the secret, which is not kept."""
    if role not in ROLES:
        raise ValueError(f"role: must be one of {', '.join(ROLES)}, not {role!r}")
    name = (name or "").strip() or None
    for _ in range(5):  # prefixes are 32 random bits: a clash is rare, a retry settles it
        prefix, secret = _new_secret()
        try:
            with conn.transaction(), conn.cursor(row_factory=class_row(KeyInfo)) as cur:
                info = cur.execute(
                    f"INSERT INTO api_keys (name, role, prefix, key_hash) VALUES (%s, %s, %s, %s)"
                    f" RETURNING {_COLUMNS}",
                    (name, role, prefix, key_hash(secret)),
                ).fetchone()
        except psycopg.errors.UniqueViolation:
            continue
        assert info is not None
        return info, secret
    raise RuntimeError("could not find an unused key prefix")


def list_keys(conn: psycopg.Connection) -> list[KeyInfo]:
    """Every key, revoked ones included, oldest first."""
    with conn.cursor(row_factory=class_row(KeyInfo)) as cur:
        return cur.execute(f"SELECT {_COLUMNS} FROM api_keys ORDER BY id").fetchall()


def revoke_key(conn: psycopg.Connection, id_or_prefix: int | str) -> KeyInfo | None:
    """Revoke a key given its id or its prefix (`dwl_1a2b3c4d`, or the 8 hex digits alone).

    Revoking a revoked key keeps its first revocation time. None when no key matches.
    """
    if isinstance(id_or_prefix, int) or str(id_or_prefix).strip().isdigit():
        where, value = "id = %s", int(id_or_prefix)  # prefixes start with "dwl_": never all digits
    else:
        text = str(id_or_prefix).strip()
        where, value = "prefix = %s", text if text.startswith(KEY_PREFIX) else KEY_PREFIX + text
    with conn.transaction(), conn.cursor(row_factory=class_row(KeyInfo)) as cur:
        return cur.execute(
            f"UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE {where}"
            f" RETURNING {_COLUMNS}",
            (value,),
        ).fetchone()


def verify(conn: psycopg.Connection, secret: str) -> KeyInfo | None:
    """The active key whose secret this is, or None (unknown, malformed or revoked)."""
    found = _KEY_SHAPE.match(secret)
    if found is None:
        return None
    with conn.cursor() as cur:
        row = cur.execute(
            f"SELECT {_COLUMNS}, key_hash FROM api_keys WHERE prefix = %s", (found.group(1),)
        ).fetchone()
    if row is None:
        return None
    info, stored_hash = KeyInfo(*row[:-1]), row[-1]
    # The prefix is public; the rest of the key is what proves possession. Compare its hash
    # in constant time so response timing says nothing about how much of it was right.
    if not hmac.compare_digest(stored_hash, key_hash(secret)) or not info.active:
        return None
    now = datetime.now(timezone.utc)
    if info.last_used_at is None or now - info.last_used_at >= LAST_USED_RESOLUTION:
        with conn.transaction():
            conn.execute("UPDATE api_keys SET last_used_at = now() WHERE id = %s", (info.id,))
    return info


def active_key_count(conn: psycopg.Connection) -> int:
    """Keys not revoked. Zero means the server runs open, and only on loopback."""
    row = conn.execute("SELECT count(*) FROM api_keys WHERE revoked_at IS NULL").fetchone()
    return int(row[0]) if row else 0
