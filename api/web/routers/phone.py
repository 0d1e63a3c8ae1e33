"""The SMS simulator's phones: read what was sent to a number, and reply as its owner.

- ``GET /phone``: the numbers that have messages.
- ``GET /phone/{e164}``: the thread of one number, oldest first, links clickable, and a
  reply form.
- ``POST /phone/{e164}``: a reply: stored as the simulator's inbound message and handled
  exactly as a provider's webhook (:func:`survey.sms.inbound.receive_sms`); the replies it
  causes are handed to the simulator before the redirect (303), so the page the browser
  lands on already shows them.

The pages exist only while ``MANYI_SMS_TRANSPORT=simulator``: with a real provider they
are 404, since anyone could otherwise opt any number out. No signature is needed (nothing
here comes from a provider), but the form carries a CSRF field tied to the number.
Server-rendered, no JavaScript, fits a 360-px screen.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import func, select

from api.web.deps import EngineDep, SessionDep, SettingsDep, SmsTransportDep
from survey.db.tables import SimulatedSms
from survey.signing import same, signature
from survey.sms.inbound import InboundMessage, receive_sms
from survey.sms.outbox import send_now
from survey.sms.simulator_transport import new_message_id

TEMPLATES = Jinja2Templates(directory=Path(__file__).parents[1] / "templates")

#: Twilio's limit for one message body; longer replies are refused with a field error.
MAX_REPLY = 1600
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
# Links in messages: invitation links, mostly. Stops before trailing punctuation that
# closes a sentence ("请点击 https://…/s/abc。").
_LINK = re.compile(r"https?://[^\s<>\"'，。；！？、）)】]+")


def simulator_only(settings: SettingsDep) -> None:
    if settings.sms_transport != "simulator":
        raise HTTPException(status_code=404)


router = APIRouter(
    prefix="/phone",
    tags=["simulator"],
    include_in_schema=False,
    dependencies=[Depends(simulator_only)],
)


def checked_phone(e164: str) -> str:
    if not _E164.fullmatch(e164):
        raise HTTPException(status_code=404)
    return e164


PhoneDep = Annotated[str, Depends(checked_phone)]


def csrf_token(secret: str, phone: str) -> str:
    return signature(secret, f"phone-csrf:{phone}")


def phone_href(phone: str) -> str:
    return "/phone/" + quote(phone, safe="+")


def link_parts(text: str) -> list[tuple[str, str | None]]:
    """A message cut into ``(text, href)`` parts: href is set for a link, None otherwise."""
    parts: list[tuple[str, str | None]] = []
    position = 0
    for match in _LINK.finditer(text):
        if match.start() > position:
            parts.append((text[position : match.start()], None))
        parts.append((match.group(), match.group()))
        position = match.end()
    if position < len(text):
        parts.append((text[position:], None))
    return parts


@router.get("", response_class=HTMLResponse)
def numbers(request: Request, session: SessionDep) -> HTMLResponse:
    rows = session.execute(
        select(SimulatedSms.phone, func.count(), func.max(SimulatedSms.id))
        .group_by(SimulatedSms.phone)
        .order_by(func.max(SimulatedSms.id).desc())
    ).all()
    listed = [
        {"phone": phone, "count": count, "href": phone_href(phone)} for phone, count, _ in rows
    ]
    return TEMPLATES.TemplateResponse(request, "phone/index.html", {"numbers": listed})


def _thread(
    request: Request, session, settings, phone: str, *, body: str = "", error: str | None = None
) -> HTMLResponse:
    zone = ZoneInfo(settings.timezone)
    rows = session.execute(
        select(SimulatedSms).where(SimulatedSms.phone == phone).order_by(SimulatedSms.id)
    ).scalars()
    messages: list[dict[str, Any]] = [
        {
            "direction": "in" if row.direction == "in" else "out",
            "parts": link_parts(row.body),
            "iso": row.created_at.isoformat(),
            "when": row.created_at.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
        }
        for row in rows
    ]
    context = {
        "phone": phone,
        "messages": messages,
        "action": phone_href(phone),
        "csrf": csrf_token(settings.secret_key.get_secret_value(), phone),
        "body": body,
        "error": error,
        "max_length": MAX_REPLY,
    }
    status = 400 if error else 200
    return TEMPLATES.TemplateResponse(request, "phone/page.html", context, status_code=status)


@router.get("/{e164}", response_class=HTMLResponse)
def thread(
    request: Request, phone: PhoneDep, session: SessionDep, settings: SettingsDep
) -> HTMLResponse:
    return _thread(request, session, settings, phone)


async def reply_form(request: Request) -> dict[str, str]:
    """The posted form's text fields; the CSRF field is checked by :func:`reply`."""
    form = await request.form()
    return {key: value for key, value in form.items() if isinstance(value, str)}


ReplyForm = Annotated[dict[str, str], Depends(reply_form)]


@router.post("/{e164}", response_class=HTMLResponse)
def reply(
    request: Request,
    phone: PhoneDep,
    form: ReplyForm,
    session: SessionDep,
    settings: SettingsDep,
    engine: EngineDep,
    transport: SmsTransportDep,
) -> Response:
    expected = csrf_token(settings.secret_key.get_secret_value(), phone)
    if not same(form.get("csrf", ""), expected):
        raise HTTPException(status_code=403, detail="the form is stale or not from this page")
    body = form.get("body", "").replace("\r\n", "\n").strip()
    if not body:
        return _thread(
            request, session, settings, phone, error="请输入短信内容。 Please type a message."
        )
    if len(body) > MAX_REPLY:
        return _thread(
            request,
            session,
            settings,
            phone,
            body=body,
            error=f"最多{MAX_REPLY}个字符。 At most {MAX_REPLY} characters.",
        )
    message_id = new_message_id()
    # Stored in the same transaction as its handling: the page never shows a reply that
    # was not handled.
    session.add(SimulatedSms(phone=phone, direction="in", body=body, message_id=message_id))
    session.flush()
    outcome = receive_sms(
        session, InboundMessage(message_id, phone, body), timezone=settings.timezone
    )
    send_now(engine, transport, outcome.outbox_ids)
    return RedirectResponse(phone_href(phone) + "#latest", status_code=303)
