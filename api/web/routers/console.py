"""The operations console's home: ``GET /console``.

It lists the sections the reader's role may open (:mod:`api.web.console_pages`) and, for
those who run fieldwork, the campaigns in the field with a link to each one's live monitor.
A role that may open no section is refused (403).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlmodel import col, select

from api.permissions import Permission, allowed
from api.web.auth import AuthRefused, CurrentStaff
from api.web.console_pages import console_page, may_use_console
from api.web.deps import SessionDep
from survey.db.tables import Campaign

router = APIRouter(prefix="/console", tags=["console"], include_in_schema=False)

NO_CONSOLE = ("您的账户不能使用运营控制台。", "Your account may not use the operations console.")


@router.get("", response_class=HTMLResponse)
def console_home(request: Request, session: SessionDep, staff: CurrentStaff) -> HTMLResponse:
    if not may_use_console(staff):
        raise AuthRefused(403, f"the {staff.role} role may not use the console", NO_CONSOLE)
    campaigns = []
    if allowed(staff.role, Permission.OPERATE):
        campaigns = session.exec(
            select(Campaign)
            .where(col(Campaign.status).in_(("running", "paused")))
            .order_by(col(Campaign.id).desc())
        ).all()
    return console_page(request, staff, "console/index.html", campaigns=campaigns)
