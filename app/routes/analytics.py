"""`/v1/admin/feedback` and `/v1/admin/analytics`: what the shop's staff read back (admin key)."""

from __future__ import annotations

from fastapi import Depends

from ..errors import ADMIN_RESPONSES, ERROR_RESPONSES
from ..security import require_admin
from . import make_router

router = make_router(prefix="/v1/admin", tags=["admin"], responses={**ERROR_RESPONSES, **ADMIN_RESPONSES},
                     dependencies=[Depends(require_admin)])
