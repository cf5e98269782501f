"""API-key authentication: the API key for mutating endpoints, and an optional read key for
reads that expose a model's features (closed only when a service's read key is set)."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import SecretStr

from optrade.errors import Unauthorized
from optrade.settings import get_app_settings

_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <API_KEY>")


async def require_api_key(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Reject the request unless it carries the configured API key (compared in constant time).

    `async def`: it never blocks, and a plain `def` dependency costs a thread-pool hand-off.
    """
    configured = get_app_settings().api_key
    if configured is None or not configured.get_secret_value():
        raise Unauthorized("no API key is configured on this service; set API_KEY")
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("missing API key: send 'Authorization: Bearer <API_KEY>'")
    given = credentials.credentials.encode()
    if not hmac.compare_digest(given, configured.get_secret_value().encode()):
        raise Unauthorized("invalid API key")


ApiKeyDep = Depends(require_api_key)


def read_key_guard(read_key: Callable[[], SecretStr | None]) -> Any:
    """A dependency that opens a read to anyone while `read_key()` is unset, and otherwise only
    to `Authorization: Bearer <read key>` (or the API key, which may do everything)."""

    async def require_read_key(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> None:
        configured = read_key()
        if configured is None or not configured.get_secret_value():
            return
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise Unauthorized("this read needs a key: send 'Authorization: Bearer <read key>'")
        given = credentials.credentials.encode()
        keys = [configured, get_app_settings().api_key]
        if not any(
            key is not None
            and key.get_secret_value()
            and hmac.compare_digest(given, key.get_secret_value().encode())
            for key in keys
        ):
            raise Unauthorized("invalid read key")

    return Depends(require_read_key)
