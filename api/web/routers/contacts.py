"""Contact events: ``POST /api/v1/contacts``.

The contact-centre system reports contacts that ended (a hotline call, a hall visit, a
chat) to a programme, up to :data:`~survey.programmes.decide.MAX_BATCH` a request. Each
event gets one decision, made once by :func:`survey.programmes.decide.decide_contacts`
(the same code as ``manyi contacts import``) and stored with it; sending a batch again
answers the stored decisions and changes nothing. Needs ``submit_contacts`` (the
``integration`` role, with an API key).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy.engine import Engine

from api.permissions import Permission
from api.web.auth import require_permission
from api.web.deps import get_engine
from api.web.errors import error_responses
from survey.db.tables import Staff
from survey.programmes.decide import MAX_BATCH, decide_contacts

router = APIRouter(prefix="/api/v1/contacts", tags=["contacts"])

Submitter = Annotated[Staff, Depends(require_permission(Permission.SUBMIT_CONTACTS))]
DecisionName = Literal["invited", "sampled_out", "frequency_capped", "opted_out", "duplicate",
                       "outside_window", "invalid"]  # fmt: skip
#: No field holds a NUL: the request limits refuse one anywhere in a body (422), and the
#: schema says so, so that what it documents as valid is what the service accepts.
NO_NUL = r"^[^\x00]*$"
_TEXT = {"max_length": 200, "pattern": NO_NUL}
AttributeText = Annotated[str, StringConstraints(max_length=2000, pattern=NO_NUL)]
AttributeName = Annotated[str, StringConstraints(max_length=100, pattern=NO_NUL)]


class ContactIn(BaseModel):
    """One contact that ended. A field that is wrong makes this contact ``invalid`` (with
    the field and the fix), not the whole request."""

    model_config = ConfigDict(extra="forbid")

    contact_id: Annotated[str, StringConstraints(pattern=NO_NUL)] | int | None = Field(
        default=None, description="The contact centre's id of the contact (1-64 characters); "
        "events are idempotent by it", examples=["CC-20260715-000123"])  # fmt: skip
    phone: Annotated[str, StringConstraints(pattern=NO_NUL)] | int | None = Field(
        default=None, description="The customer's mobile number (E.164, or national)",
        examples=["+8613800138000"])  # fmt: skip
    channel: str | None = Field(
        default=None, description="One of the programme's channels", examples=["hotline"], **_TEXT
    )
    ended_at: str | None = Field(
        default=None, description="When the contact ended, ISO 8601 with its offset",
        examples=["2026-07-15T10:15:00+08:00"], **_TEXT)  # fmt: skip
    agent_id: Annotated[str, StringConstraints(pattern=NO_NUL)] | int | None = Field(
        default=None, examples=["A1024"]
    )
    team: str | None = Field(default=None, examples=["billing-3"], **_TEXT)
    queue: str | None = Field(default=None, description="The queue (skill group)",
                              examples=["billing"], **_TEXT)  # fmt: skip
    region: str | None = Field(default=None, examples=["Haidian"], **_TEXT)
    service_hall: str | None = Field(default=None, examples=["Zhongguancun"], **_TEXT)
    attributes: dict[AttributeName, AttributeText | int | float | bool | None] | None = Field(
        default=None, description="Anything else about the contact, as names and plain values "
        "(at most 4,000 characters of JSON); `language` (zh or en) chooses the SMS language, "
        "`topic` and `summary` are shown to the follow-up team",
        examples=[{"topic": "bill", "language": "zh"}])  # fmt: skip


EXAMPLE = {
    "programme": "hotline",
    "contacts": [
        {"contact_id": "CC-20260715-000123", "phone": "+8613800138000", "channel": "hotline",
         "ended_at": "2026-07-15T10:15:00+08:00", "agent_id": "A1024", "team": "billing-3",
         "queue": "billing", "region": "Haidian", "service_hall": None,
         "attributes": {"topic": "bill"}},
    ],
}  # fmt: skip


class ContactsIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [EXAMPLE]})

    programme: str = Field(description="The programme's name", examples=["hotline"],
                           max_length=100, pattern=NO_NUL)  # fmt: skip
    contacts: list[ContactIn] = Field(
        max_length=MAX_BATCH, description=f"At most {MAX_BATCH:,} contacts a request"
    )


class ContactDecisionOut(BaseModel):
    contact_id: str | None = Field(description="As sent (None when it was missing)",
                                   examples=["CC-20260715-000123"])  # fmt: skip
    decision: DecisionName = Field(examples=["invited"])
    reason: str = Field(description="Why, in words; for `invalid`, the field and the fix",
                        examples=["drawn at the rate 0.2 of channel hotline"])  # fmt: skip


class ContactsOut(BaseModel):
    results: list[ContactDecisionOut] = Field(description="One per contact, in the order sent")


@router.post(
    "",
    response_model=ContactsOut,
    summary="Report contacts that ended; get one decision per contact",
    responses=error_responses(
        *(400, 401, 403, 404, 409, 422),
        _400="The body is not JSON",
        _403="The role lacks `submit_contacts` (an `integration` account's API key has it)",
        _404="Unknown programme",
        _409="The programme is paused",
        _422=f"Malformed body, an unknown field, or more than {MAX_BATCH:,} contacts",
    ),
)
def post_contacts(
    request: Request,
    body: ContactsIn,
    staff: Submitter,
    engine: Annotated[Engine, Depends(get_engine)],
) -> ContactsOut:
    """Decide each contact once: `invited` (an SMS goes out after the programme's delay),
    `sampled_out`, `frequency_capped` (surveyed too recently, across every programme and
    campaign), `opted_out`, `duplicate` (the same contact_id earlier in this request),
    `outside_window` (ended longer ago than the reply window, or in the future) or `invalid`
    (the field and the fix; not stored, so the corrected contact can be sent again).

    A contact decided before answers with its stored decision and changes nothing, so a
    request can be retried safely.
    """
    settings = request.app.state.settings
    decisions = decide_contacts(
        engine,
        body.programme,
        [contact.model_dump() for contact in body.contacts],
        source="api",
        secret=settings.secret_key.get_secret_value(),
        timezone=settings.timezone,
    )
    return ContactsOut(
        results=[
            ContactDecisionOut(contact_id=d.contact_id, decision=str(d.decision), reason=d.reason)
            for d in decisions
        ]
    )
