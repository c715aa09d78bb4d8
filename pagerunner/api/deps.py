"""FastAPI dependencies as `Annotated` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request

from .services import Services

__all__ = ["MAX_OFFSET", "Offset", "ServicesDep"]

#: Offsets beyond this are refused (422): larger ones overflow the database's integers.
MAX_OFFSET = 1_000_000_000


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]
#: How many items a listing skips.
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET)]
