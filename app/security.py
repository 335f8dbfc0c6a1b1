"""Admin routes' key: `Authorization: Bearer <AURORA_ADMIN_KEY>`.

With no key configured the admin routes are off (403), never open. A missing or wrong key is
401, logged with the client's address (never the key it sent). The comparison takes the same
time whatever the key sent (`hmac.compare_digest`).
"""

from __future__ import annotations

import hmac
import logging

from fastapi import Request
from starlette.exceptions import HTTPException as StarletteHTTPException

from .settings import Settings

logger = logging.getLogger(__name__)

BEARER = "bearer "


def require_admin(request: Request) -> None:
    """A dependency of every admin route.

    Raises:
        StarletteHTTPException: 403 when no admin key is configured, 401 for a missing or wrong key.
    """
    settings: Settings = request.app.state.settings
    client = request.client.host if request.client else "unknown"
    if settings.admin_key is None or not settings.admin_key.get_secret_value():
        logger.warning("admin request %s %s from %s refused: no AURORA_ADMIN_KEY configured",
                       request.method, request.url.path, client)
        raise StarletteHTTPException(403, "admin routes are off: set AURORA_ADMIN_KEY to turn them on")
    header = request.headers.get("authorization", "")
    sent = header[len(BEARER):].strip() if header[: len(BEARER)].lower() == BEARER else ""
    expected = settings.admin_key.get_secret_value()
    if not hmac.compare_digest(sent.encode(), expected.encode()):
        logger.warning("admin request %s %s from %s refused: %s key", request.method, request.url.path, client,
                       "wrong" if sent else "no")
        raise StarletteHTTPException(401, "send the admin key as 'Authorization: Bearer <AURORA_ADMIN_KEY>'",
                                     headers={"WWW-Authenticate": "Bearer"})
