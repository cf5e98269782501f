"""API-key authentication for mutating endpoints."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

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
