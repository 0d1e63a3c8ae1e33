"""The SMS provider's webhooks: inbound messages and delivery reports.

Every request must carry a valid ``X-Twilio-Signature`` for the *public* URL
(``MANYI_PUBLIC_BASE_URL`` + path + query), keyed with ``MANYI_TWILIO_AUTH_TOKEN``;
anything else is refused with 403 before a byte is stored. Without an auth token there is
nothing to check a signature with, so every request is refused: with the simulator (no
token) the webhooks are closed, and the simulator's phone page is the way in.

Inbound messages are answered with empty TwiML: replies are never put in the HTTP answer
(Twilio would send them outside the outbox, and a retried webhook would send them twice).
They are queued in the outbox with the message and handed to the transport right after the
answer has gone (a background task), so the provider's 15-second webhook timeout never
depends on the provider's own API.

NUL characters, which no database column of ours can hold, are dropped from the fields
after the signature (computed over them) is checked; every other route has them refused
by :mod:`api.web.limits`, but a refused webhook would lose a customer's message. A message
from a sender that is no phone number is acknowledged and dropped
(:func:`survey.sms.inbound.phone_address`): the provider retries only what is not
acknowledged, and a retry would bring the same message.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, HTTPException, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from api.settings import Settings
from api.transports import status_callback_url
from api.web.deps import (
    EngineDep,
    SessionDep,
    SettingsDep,
    SmsTransportDep,
    get_group_commit,
    public_url,
    settings_of,
)
from api.web.forms import form_fields
from survey.sms.delivery import apply_delivery
from survey.sms.inbound import InboundMessage, receive_sms
from survey.sms.outbox import send_now
from survey.sms.signatures import SIGNATURE_HEADER, verify_twilio_signature

log = logging.getLogger(__name__)

router = APIRouter(prefix="/sms", tags=["sms"])

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


async def signed_form(request: Request, settings: SettingsDep) -> FormData:
    """The POSTed form, when it is signed by the provider; 403 otherwise."""
    form = FormData(await form_fields(request))
    check_signature(request, settings, form)
    return form


def check_signature(request: Request, settings: Settings, form: FormData) -> None:
    """403 unless ``form`` is signed by the provider for the URL it called."""
    token = settings.twilio_auth_token
    signature = request.headers.get(SIGNATURE_HEADER)
    if token is None or not token.get_secret_value():
        log.warning(
            "webhook %s refused: no auth token configured to check signatures", request.url.path
        )
        raise HTTPException(status_code=403, detail="signature required")
    if not verify_twilio_signature(
        # The URL the provider called and signed: the public base URL, not the one we see.
        token.get_secret_value(), public_url(request, request.url), form, signature
    ):
        log.warning("webhook %s refused: missing or invalid signature", request.url.path)
        raise HTTPException(status_code=403, detail="invalid signature")


SignedForm = Annotated[FormData, Depends(signed_form)]


def _field(form: FormData, *names: str) -> str | None:
    for name in names:
        value = _text(form, name)
        if value:
            return value
    return None


def _text(form: FormData, name: str) -> str | None:
    value = form.get(name)
    return value.replace("\x00", "") if isinstance(value, str) else None


@router.post("/inbound", response_class=Response)
def inbound_sms(
    form: SignedForm,
    session: SessionDep,
    settings: SettingsDep,
    engine: EngineDep,
    transport: SmsTransportDep,
    background: BackgroundTasks,
) -> Response:
    """An SMS from a customer (Twilio's incoming-message webhook)."""
    sid = _field(form, "MessageSid", "SmsMessageSid", "SmsSid")
    sender = _field(form, "From")
    body = _text(form, "Body")
    if sid is None or sender is None or body is None:
        raise HTTPException(status_code=400, detail="MessageSid, From and Body are required")
    message = InboundMessage(sid, sender, body, _field(form, "To"))
    outcome = receive_sms(session, message, timezone=settings.timezone)
    if outcome.outbox_ids:
        background.add_task(
            send_now,
            engine,
            transport,
            outcome.outbox_ids,
            status_callback_url=status_callback_url(settings),
        )
    return Response(EMPTY_TWIML, media_type="text/xml")


async def delivery_status(request: Request) -> Response:
    """POST /sms/status: a delivery report (Twilio's status callback).

    Duplicates and late ones are normal, and reports come in bursts (four or more per
    message), so this is a plain Starlette route (added below) without FastAPI's parameter
    machinery, reading the form cheaply (:func:`api.web.forms.form_fields`); the signature is
    checked on the event loop and the report written by the application's group commit. It
    answers 200 only after the commit, since the provider will not resend an acknowledged one.
    """
    settings = settings_of(request)
    form = FormData(await form_fields(request))
    check_signature(request, settings, form)
    sid = _field(form, "MessageSid", "SmsSid")
    status = _field(form, "MessageStatus", "SmsStatus")
    if sid is None or status is None:
        raise HTTPException(status_code=400, detail="MessageSid and MessageStatus are required")
    job = partial(
        apply_delivery,
        provider_message_id=sid,
        status=status,
        error_code=_field(form, "ErrorCode"),
    )
    await get_group_commit(request).submit_async(job)
    return Response(status_code=200)


# A Starlette route does not get the router's prefix: it is spelled out.
router.add_route(f"{router.prefix}/status", delivery_status, methods=["POST"])
