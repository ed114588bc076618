"""API keys: `Authorization: Bearer <key>`, roles viewer < uploader < admin.

While the store has no active key the API is open, but only to clients on this machine:
`dwell serve` then binds to loopback (see `bind.check_bind`), and a request that still
arrives from elsewhere (a proxy, all keys revoked while serving on 0.0.0.0) is refused.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from dwell import auth
from dwell.api.bind import is_loopback
from dwell.api.deps import get_services
from dwell.api.errors import ApiError
from dwell.api.services import Services

# How long "are there active keys?" is remembered. Changes made through this server's API
# apply at once (see forget_key_count); a key created with the CLI counts within this time.
KEY_COUNT_TTL_S = 5.0
_COUNT_SLOT = "api_keys.active_count"

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="api_key",
    description="An API key from `dwell keys create --role viewer|uploader|admin`.",
)


def remembered_key_count(services: Services) -> int | None:
    """The number of active keys if counted less than KEY_COUNT_TTL_S seconds ago."""
    remembered = services.extras.get(_COUNT_SLOT)
    if remembered is not None and remembered[1] > time.monotonic():
        return remembered[0]
    return None


def active_key_count(services: Services) -> int:
    """The number of active keys, remembered for KEY_COUNT_TTL_S seconds."""
    remembered = remembered_key_count(services)
    if remembered is not None:
        return remembered
    now = time.monotonic()
    with services.pool.connection() as conn:
        count = auth.active_key_count(conn)
    services.extras[_COUNT_SLOT] = (count, now + KEY_COUNT_TTL_S)
    return count


def forget_key_count(services: Services) -> None:
    """Call after creating or revoking a key, so the next request counts again."""
    services.extras.pop(_COUNT_SLOT, None)


def _unauthorized(message: str, error: str | None = None) -> ApiError:
    challenge = 'Bearer realm="dwell"' + (f', error="{error}"' if error else "")
    return ApiError(401, "unauthorized", message, headers={"WWW-Authenticate": challenge})


def _local(request: Request) -> bool:
    # No client address means a Unix socket, which only this machine can reach.
    return request.client is None or is_loopback(request.client.host)


def require(role: str) -> Callable[..., auth.KeyInfo | None]:
    """A dependency admitting requests whose key has `role` or a higher one.

    It returns the key (None while the API runs open without keys); the key is also left
    in `request.state.api_key` for handlers that want to log who asked.
    """
    if role not in auth.ROLES:
        raise ValueError(f"unknown role {role!r}; roles are {', '.join(auth.ROLES)}")

    async def dependency(
        request: Request,
        services: Annotated[Services, Depends(get_services)],
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> auth.KeyInfo | None:
        # Without a key and with the key count remembered nothing waits on the database:
        # decide here, on the event loop; else in a worker thread.
        if credentials is None and remembered_key_count(services) is not None:
            return check(request, services, credentials)
        return await run_in_threadpool(check, request, services, credentials)

    def check(request: Request, services: Services,
              credentials: HTTPAuthorizationCredentials | None) -> auth.KeyInfo | None:
        request.state.api_key = None
        if credentials is not None:
            with services.pool.connection() as conn:
                key = auth.verify(conn, credentials.credentials)
            if key is not None:
                if not auth.role_allows(key.role, role):
                    raise ApiError(403, "forbidden",
                                   f"This needs a key with the {role} role; this key is a "
                                   f"{key.role} key.")
                request.state.api_key = key
                return key
        if active_key_count(services) == 0:
            if _local(request):
                return None
            raise _unauthorized("This server has no API keys and answers only on loopback; "
                                "create one with `dwell keys create --role admin`.")
        if credentials is None:
            raise _unauthorized("Send an API key as `Authorization: Bearer <key>`.")
        raise _unauthorized("The API key is unknown or revoked.", error="invalid_token")

    return dependency
