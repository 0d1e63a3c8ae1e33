"""Database tables of the survey domain (SQLModel).

Times are stored in UTC. Some rules are enforced by the database itself (in the
migrations), not only by the code: a published questionnaire version is never updated,
answers are append-only (a changed answer is a new row; the latest row per item wins), and
every ``status`` column holds one of its enum's states (:mod:`survey.db.states`, CHECK).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Column, DateTime, Index, UniqueConstraint
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

from survey.db.states import (
    STATUS_COLUMNS,
    ContactDecision,
    ContactSource,
    ProgrammeState,
    status_check,
)


def _status_is_a_state(table: str) -> CheckConstraint:
    return CheckConstraint(status_check(STATUS_COLUMNS[table]), name=f"ck_{table}_status")


class UTCDateTime(TypeDecorator):
    """A timestamp that is always timezone-aware UTC in Python.

    SQLite keeps no time zone: values come back naive. They were written as UTC, so they
    are read back as UTC, and a naive value is never compared with an aware one.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            raise ValueError("timestamps must be timezone-aware (UTC) before they are stored")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


def utcnow() -> datetime:
    return datetime.now(UTC)


def _when(**kwargs: Any) -> Any:
    return Field(default_factory=utcnow, sa_type=UTCDateTime, **kwargs)


class QuestionnaireVersion(SQLModel, table=True):
    """A published, immutable version of a questionnaire document."""

    __tablename__ = "questionnaire_version"
    __table_args__ = (UniqueConstraint("form_id", "version", name="uq_questionnaire_version"),)

    id: int | None = Field(default=None, primary_key=True)
    form_id: str = Field(max_length=64, index=True)
    version: str = Field(max_length=32)
    title: str = Field(max_length=200)
    content_hash: str = Field(max_length=64)
    document: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    published_at: datetime = _when()


class QuestionnaireDraft(SQLModel, table=True):
    """An uploaded questionnaire file and what its check found, kept until it is published.

    The operations console uploads a file, shows every problem located, previews a valid
    document as customers and interviewers will see it, and only then publishes it. The
    document is the canonical one the check built (None when the file has errors).
    """

    __tablename__ = "questionnaire_draft"

    id: int | None = Field(default=None, primary_key=True)
    filename: str = Field(max_length=255)
    form_id: str | None = Field(default=None, max_length=64)
    version: str | None = Field(default=None, max_length=32)
    document: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    problems: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    uploaded_by: int | None = Field(default=None, foreign_key="staff.id")
    uploaded_at: datetime = _when()
    published_version_id: int | None = Field(default=None, foreign_key="questionnaire_version.id")


class SampleFrame(SQLModel, table=True):
    """One import of customers (a CSV/XLSX file from the operator's systems)."""

    __tablename__ = "sample_frame"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True)
    source: str = Field(max_length=255)
    n_customers: int = 0
    imported_at: datetime = _when()


class FrameImportReport(SQLModel, table=True):
    """One attempt to import a sample frame and its per-row report, stored or not.

    The console shows the report after the upload and offers it for download later; an
    import that stored nothing (``frame_id`` None) keeps its report too, so that the file's
    owner can fix every row and try again.
    """

    __tablename__ = "frame_import"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100)
    filename: str = Field(max_length=255)
    frame_id: int | None = Field(default=None, foreign_key="sample_frame.id")
    counts: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    problems: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    imported_by: int | None = Field(default=None, foreign_key="staff.id")
    imported_at: datetime = _when()


class Customer(SQLModel, table=True):
    """A customer of a sample frame. The phone number is personal data: never sent as is
    to anyone who does not need it."""

    __tablename__ = "customer"
    __table_args__ = (UniqueConstraint("frame_id", "external_id", name="uq_customer_frame_id"),)

    id: int | None = Field(default=None, primary_key=True)
    frame_id: int = Field(foreign_key="sample_frame.id", index=True)
    external_id: str = Field(max_length=64)
    phone_e164: str = Field(max_length=20, index=True)
    region: str = Field(max_length=64, index=True)
    service_hall: str = Field(max_length=64, index=True)
    tenure_months: int
    monthly_spend: float
    tier: int = Field(ge=1, le=5, description="1 = one-star ... 5 = five-star")
    language: str = Field(default="zh", max_length=8)
    consent: bool = True


class Campaign(SQLModel, table=True):
    """A survey campaign: one questionnaire version sent to sampled customers.

    Quiet hours are wall-clock times in the customer's time zone; no SMS is sent from
    ``quiet_start`` to ``quiet_end``. ``rate_per_second`` is shared by every dispatcher:
    each send reserves the next slot in ``next_send_slot``.
    """

    __tablename__ = "campaign"
    __table_args__ = (_status_is_a_state("campaign"),)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    questionnaire_version_id: int = Field(foreign_key="questionnaire_version.id", index=True)
    #: draft -> running <-> paused -> closed
    status: str = Field(default="draft", max_length=16)
    #: Channels used: "sms_link", "sms_reply", "web_link", "intercept".
    channels: list[str] = Field(default_factory=lambda: ["sms_link"], sa_column=Column(JSON,
                                nullable=False))  # fmt: skip
    #: The SMS text per language; "{link}" is replaced by the invitation's link.
    message: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    #: Web form layout: "grouped" (one page per construct) or "single" (one question per page).
    layout: str = Field(default="grouped", max_length=16)
    quiet_start: str = Field(default="21:00", max_length=5)
    quiet_end: str = Field(default="08:00", max_length=5)
    rate_per_second: float = Field(default=10.0, gt=0)
    reminders: int = Field(default=0, ge=0)
    reminder_delay_hours: float = Field(default=48.0, gt=0)
    starts_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    next_send_slot: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = _when()
    launched_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    #: Phone interviews: calling hours, attempt limits, minimum gap, retry delay per call
    #: outcome, partial-interview threshold (see survey.cati.queue); empty means the defaults.
    calling: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False, server_default="{}")
    )
    #: How the sample was drawn from its frame (survey.campaigns.plan.SampleDesign: frame,
    #: strata, quotas, sample size, seed): the live monitor's quota progress compares with
    #: it. None for a campaign not drawn from a frame by the plan (a demo's, a test's).
    sample_design: dict[str, Any] | None = Field(
        default=None, sa_column=Column(JSON, nullable=True)
    )


class Invitation(SQLModel, table=True):
    """One customer invited by one campaign, with a single-use link token.

    Only a hash of the token is stored: a leaked database does not open forms.
    """

    __tablename__ = "invitation"
    __table_args__ = (
        UniqueConstraint("campaign_id", "customer_id", name="uq_invitation"),
        _status_is_a_state("invitation"),
    )

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id", index=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    channel: str = Field(max_length=16)
    token_hash: str = Field(max_length=64, unique=True)
    #: created -> invited -> opened -> started -> completed; or opted_out / expired, or
    #: no_consent / frequency_capped (never sent)
    status: str = Field(default="created", max_length=16, index=True)
    created_at: datetime = _when()
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    provider_message_id: str | None = Field(default=None, max_length=64)


class OutboundSms(SQLModel, table=True):
    """The outbox: every SMS is a row before it is a message.

    Dispatchers claim rows, then mark the one they are about to hand to the provider as
    ``sending`` in its own commit. After a crash, ``claimed`` rows were never handed over
    and go back to the queue; a ``sending`` row's fate is unknown: it is reconciled with
    the provider's log, or reported as ``uncertain``, never resent blindly.
    """

    __tablename__ = "outbound_sms"
    __table_args__ = (
        UniqueConstraint("invitation_id", "kind", "sequence", name="uq_outbound_once"),
        Index("ix_outbound_due", "status", "not_before"),
        _status_is_a_state("outbound_sms"),
    )

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int | None = Field(default=None, foreign_key="campaign.id", index=True)
    invitation_id: int | None = Field(default=None, foreign_key="invitation.id")
    #: invitation, reminder, opt_out_confirmation, help, reprompt
    kind: str = Field(max_length=24)
    sequence: int = 0
    to_phone: str = Field(max_length=20, index=True)
    body: str
    #: Time zone of the recipient, for quiet hours.
    timezone: str = Field(default="Asia/Shanghai", max_length=64)
    #: pending -> claimed -> sending -> sent | failed | uncertain | skipped
    status: str = Field(default="pending", max_length=16)
    attempts: int = 0
    not_before: datetime = _when()
    claimed_by: str | None = Field(default=None, max_length=64)
    claimed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    sending_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    provider_message_id: str | None = Field(default=None, max_length=64, unique=True)
    segments: int | None = None
    error_code: str | None = Field(default=None, max_length=32)
    error_message: str | None = Field(default=None, max_length=500)
    #: The provider's last delivery status (queued, sent, delivered, undelivered, failed).
    delivery_status: str | None = Field(default=None, max_length=16)
    delivery_updated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = _when()


class OptOut(SQLModel, table=True):
    """A number that said STOP/TD/退订: the opt-out list always wins."""

    __tablename__ = "opt_out"

    phone_e164: str = Field(primary_key=True, max_length=20)
    keyword: str = Field(max_length=32)
    source: str = Field(max_length=32)
    created_at: datetime = _when()


class DispatcherLease(SQLModel, table=True):
    """A running dispatcher's heartbeat: claims of a dispatcher whose lease ran out are
    taken back."""

    __tablename__ = "dispatcher_lease"

    worker_id: str = Field(primary_key=True, max_length=64)
    seen_at: datetime = _when()


class SimulatedSms(SQLModel, table=True):
    """Messages of the SMS simulator: what a phone page shows and where its replies go."""

    __tablename__ = "simulated_sms"

    id: int | None = Field(default=None, primary_key=True)
    phone: str = Field(max_length=20, index=True)
    direction: str = Field(max_length=3)  # "out" (to the phone) or "in" (from it)
    body: str
    message_id: str = Field(max_length=64, unique=True)
    created_at: datetime = _when()


class InboundSms(SQLModel, table=True):
    """Every SMS received (webhook or simulator), kept once per provider message id.

    A provider retries a webhook it saw no answer to, so the message id makes handling
    idempotent. ``handled_as`` says what the message did: opt_out, help, answer, invalid
    (a re-prompt was sent), ignored.
    """

    __tablename__ = "inbound_sms"

    id: int | None = Field(default=None, primary_key=True)
    provider_message_id: str = Field(max_length=64, unique=True)
    from_phone: str = Field(max_length=20, index=True)
    to_phone: str | None = Field(default=None, max_length=20)
    body: str
    handled_as: str = Field(default="received", max_length=16)
    invitation_id: int | None = Field(default=None, foreign_key="invitation.id", index=True)
    received_at: datetime = _when()


class Response(SQLModel, table=True):
    """One customer's response, always tied to the questionnaire version it answered."""

    __tablename__ = "response"
    __table_args__ = (
        UniqueConstraint("questionnaire_version_id", "external_id", name="uq_response_external"),
        _status_is_a_state("response"),
    )

    id: int | None = Field(default=None, primary_key=True)
    questionnaire_version_id: int = Field(foreign_key="questionnaire_version.id", index=True)
    campaign_id: int | None = Field(default=None, foreign_key="campaign.id", index=True)
    invitation_id: int | None = Field(default=None, foreign_key="invitation.id", unique=True)
    customer_id: int | None = Field(default=None, foreign_key="customer.id", index=True)
    #: An identifier from outside (an imported data set); unique per questionnaire version.
    external_id: str | None = Field(default=None, max_length=64)
    channel: str = Field(max_length=16)
    language: str = Field(default="zh", max_length=8)
    status: str = Field(default="in_progress", max_length=16, index=True)
    started_at: datetime = _when()
    completed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    #: Intercept and phone interviews: who asked, and in which service hall (intercept only).
    interviewer: str | None = Field(default=None, max_length=64, index=True)
    service_hall: str | None = Field(default=None, max_length=64)


class Answer(SQLModel, table=True):
    """One answer to one item, append-only: the latest row per (response, item) counts.

    ``value`` is the stored choice code ("1".."5", "6" for cannot answer), the NPS digit,
    the text, or a JSON list of codes for multiple choice.
    """

    __tablename__ = "answer"
    __table_args__ = (Index("ix_answer_response_item", "response_id", "item_name"),)

    id: int | None = Field(default=None, primary_key=True)
    response_id: int = Field(foreign_key="response.id")
    item_name: str = Field(max_length=64)
    value: str | None = Field(default=None)
    answered_at: datetime = _when()


class Staff(SQLModel, table=True):
    """A person who works in Manyi: interviewer, supervisor, manager, team leader, researcher
    or admin.

    ``regions`` and ``service_halls`` limit what a manager sees (empty: everything);
    ``teams`` are a team leader's (the contact centre's team names, as contact events write
    them; a team leader has at least one).
    """

    __tablename__ = "staff"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, unique=True)
    display_name: str = Field(max_length=100)
    role: str = Field(max_length=16, index=True)
    password_hash: str | None = Field(default=None, max_length=255)
    regions: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    service_halls: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    teams: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    active: bool = True
    created_at: datetime = _when()
    #: The one-time code (TOTP) secret, sealed under the service's key (survey.staff.totp):
    #: a copy of the database alone cannot make codes. None: signs in without a code.
    totp_secret: str | None = Field(default=None, max_length=255)
    #: The time step of the last code accepted: a code of that step or before is refused,
    #: so a code seen over a shoulder or in a proxy's log cannot be used again.
    totp_last_step: int | None = None


class CallCase(SQLModel, table=True):
    """A customer the outbound team is to call: a sampled interview or a follow-up.

    The queue orders open cases by due appointment, then ``priority`` (follow-ups above
    interviews), then ``next_call_at``. ``held_by`` is the interviewer who has the case on
    screen; no one else gets it while the hold lasts (``held_until``).
    """

    __tablename__ = "call_case"
    __table_args__ = (
        Index("ix_call_case_queue", "status", "priority", "next_call_at"),
        _status_is_a_state("call_case"),
    )

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int | None = Field(default=None, foreign_key="campaign.id", index=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    kind: str = Field(max_length=16)  # "interview" or "follow_up"
    priority: int = 0
    status: str = Field(default="open", max_length=16)  # open, final
    held_by: int | None = Field(default=None, foreign_key="staff.id", index=True)
    held_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    next_call_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    appointment_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    attempts: int = 0
    #: The AAPOR final disposition code once the case is final (e.g. "1.1", "2.111").
    final_disposition: str | None = Field(default=None, max_length=10)
    response_id: int | None = Field(default=None, foreign_key="response.id")
    created_at: datetime = _when()
    updated_at: datetime = _when()


class CallAttempt(SQLModel, table=True):
    """One call of a case, with its outcome as an AAPOR disposition code."""

    __tablename__ = "call_attempt"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="call_case.id", index=True)
    interviewer_id: int = Field(foreign_key="staff.id", index=True)
    started_at: datetime = _when()
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    outcome: str = Field(max_length=24)  # no_answer, busy, soft_refusal, complete, ...
    disposition: str = Field(max_length=10)
    appointment_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    notes: str | None = None
    response_id: int | None = Field(default=None, foreign_key="response.id")


class FollowUp(SQLModel, table=True):
    """Service remedy: a dissatisfied (or likely dissatisfied) customer to call back.

    ``reasons`` are the rules that fired (codes); ``score`` the classifier's probability
    when it was used. Due ``due_at`` (the SLA); closed with an outcome and a root cause.
    """

    __tablename__ = "follow_up"
    __table_args__ = (_status_is_a_state("follow_up"),)

    id: int | None = Field(default=None, primary_key=True)
    response_id: int = Field(foreign_key="response.id", unique=True)
    customer_id: int | None = Field(default=None, foreign_key="customer.id", index=True)
    reasons: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    score: float | None = None
    status: str = Field(default="open", max_length=16, index=True)  # open, closed
    opened_at: datetime = _when()
    due_at: datetime = Field(sa_type=UTCDateTime)
    outcome: str | None = Field(default=None, max_length=16)  # resolved, not_resolved, unreachable
    root_cause: str | None = Field(default=None, max_length=64)
    notes: str | None = None
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    closed_by: int | None = Field(default=None, foreign_key="staff.id")
    case_id: int | None = Field(default=None, foreign_key="call_case.id")
    #: A short re-survey sent after the call, when the campaign asks for one.
    resurvey_invitation_id: int | None = Field(default=None, foreign_key="invitation.id")
    #: Who is to call the customer back, as a manager or supervisor assigned it.
    assigned_to: int | None = Field(default=None, foreign_key="staff.id")
    assigned_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    #: Escalated: called before every other follow-up, with the reason in words.
    escalated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    escalation: str | None = Field(default=None, max_length=500)


class RemedyModel(SQLModel, table=True):
    """A trained "potentially dissatisfied" classifier, with its validation and parameters.

    ``parameters`` holds what scoring needs as plain JSON (e.g. a logistic regression's
    feature names, coefficients, intercept and threshold): nothing is unpickled.
    ``usable`` is False when the validation AUC is too low: the score is then not used.
    """

    __tablename__ = "remedy_model"

    id: int | None = Field(default=None, primary_key=True)
    questionnaire_version_id: int = Field(foreign_key="questionnaire_version.id", index=True)
    trained_at: datetime = _when()
    n_train: int
    n_validation: int
    auc: float
    auc_ci_low: float | None = None
    auc_ci_high: float | None = None
    usable: bool
    active: bool = True
    parameters: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))


class StaffSession(SQLModel, table=True):
    """A signed-in browser: the cookie holds a random token, this row only its SHA-256.

    Kept on the server (not in the cookie alone) so that logging out, disabling a staff
    member or a stolen-cookie report ends the session everywhere, at once.
    """

    __tablename__ = "staff_session"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    staff_id: int = Field(foreign_key="staff.id", index=True)
    created_at: datetime = _when()
    last_seen_at: datetime = _when()
    expires_at: datetime = Field(sa_type=UTCDateTime)
    ip: str | None = Field(default=None, max_length=45)


class ApiKey(SQLModel, table=True):
    """A staff member's key for the JSON API. The key itself is shown once and never stored:
    only its SHA-256 (a 32-byte random key needs no slow hash) and a prefix to recognise it.
    """

    __tablename__ = "api_key"

    id: int | None = Field(default=None, primary_key=True)
    staff_id: int = Field(foreign_key="staff.id", index=True)
    name: str = Field(max_length=100)
    prefix: str = Field(max_length=16, index=True)
    key_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = _when()
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class AuditLog(SQLModel, table=True):
    """Who did what, to what, from where: logins, exports, any access to personal data.

    Rows are never updated (a trigger refuses it); old rows may be deleted by retention.
    ``staff_id`` is None when nobody is known (a failed login with an unknown username).
    """

    __tablename__ = "audit_log"
    # What one username did from one address, e.g. its failed logins, newest first.
    __table_args__ = (Index("ix_audit_log_throttle", "action", "target", "ip", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _when(index=True)
    staff_id: int | None = Field(default=None, foreign_key="staff.id", index=True)
    action: str = Field(max_length=32)
    target: str | None = Field(default=None, max_length=200)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    #: The client's address as Manyi believes it: the socket's peer, or the client a trusted
    #: proxy names (MANYI_TRUSTED_PROXIES).
    ip: str | None = Field(default=None, max_length=45)
    #: X-Forwarded-For as the request carried it, believed or not: what was claimed, kept
    #: apart from the address so that a forged header never takes its place.
    forwarded_for: str | None = Field(default=None, max_length=500)


class LoginThrottle(SQLModel, table=True):
    """Recent failed logins of one key: an account, an account from one address, or an address.

    ``key`` is ``account:USERNAME``, ``pair:USERNAME ADDRESS`` or ``address:ADDRESS``. A count
    starts at the window's first failure and ends :data:`survey.staff.throttle.LOCKOUT` later.
    An attempt takes its slot before its password is checked (one atomic upsert per key), so
    concurrent guesses count (see :mod:`survey.staff.throttle`).
    """

    __tablename__ = "login_throttle"

    key: str = Field(primary_key=True, max_length=200)
    window_start: datetime = Field(sa_type=UTCDateTime)
    failures: int = 0


class Analysis(SQLModel, table=True):
    """An analysis job: what was asked, its state, and its stored result with provenance.

    ``key`` is the SHA-256 of the canonical request and of the data it reads (see
    :mod:`survey.analyses.jobs`): identical inputs find the same row, so a result is computed once.
    ``status``: queued -> running -> done | failed. A failed job keeps its reason in ``error``.
    """

    __tablename__ = "analysis"
    __table_args__ = (
        # What the managers' pages ask: the newest finished analysis of a version, period,
        # segment and filters (survey.analyses.jobs.latest_done).
        Index(
            "ix_analysis_lookup",
            "questionnaire_version_id",
            "status",
            "period",
            "segment",
            "filters_hash",
            "id",
        ),
        _status_is_a_state("analysis"),
    )

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=64, unique=True)
    questionnaire_version_id: int = Field(foreign_key="questionnaire_version.id", index=True)
    request: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    data_fingerprint: str = Field(max_length=64)
    #: The request's period (None: all data) and segment, and the SHA-256 of its filters:
    #: columns of their own, so that pages find an analysis with an indexed query.
    period: str | None = Field(default=None, max_length=8)
    segment: str | None = Field(default=None, max_length=16)
    filters_hash: str = Field(max_length=64)
    status: str = Field(default="queued", max_length=16, index=True)
    origin: str = Field(default="request", max_length=16)  # request | schedule
    requested_by: int | None = Field(default=None, foreign_key="staff.id")
    created_at: datetime = _when()
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    #: Renewed by the worker while it computes; a running job silent for the lease is lost.
    heartbeat_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    worker: str | None = Field(default=None, max_length=100)
    attempts: int = 0
    result: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    provenance: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    error: str | None = None


class Programme(SQLModel, table=True):
    """A standing programme: a campaign fed by contact events rather than by a sample.

    Its invitations, outbox rows and responses belong to its ``campaign_id`` (created with
    it, running or paused with it), so the dispatcher and the answering machinery work on
    them unchanged; the quiet hours and rate limit are that campaign's. Its contacted
    customers are rows of its own sample frame (``frame_id``), one per invited contact.

    Sampling rates: ``queue_rates`` (queue -> rate) first, then ``channel_rates``, then
    ``default_rate``. ``sampling_key`` keys the hash of a contact id that sampling compares
    with the rate, so a redelivered event is sampled the same.
    """

    __tablename__ = "programme"
    __table_args__ = (
        CheckConstraint(status_check(ProgrammeState, "state"), name="ck_programme_state"),
    )

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True)
    questionnaire_version_id: int = Field(foreign_key="questionnaire_version.id")
    campaign_id: int = Field(foreign_key="campaign.id", unique=True)
    frame_id: int = Field(foreign_key="sample_frame.id")
    #: sms_reply (digits) or sms_link (the web form)
    mode: str = Field(max_length=16)
    #: The contact channels covered: hotline, hall, online, ...
    channels: list[str] = Field(sa_column=Column(JSON, nullable=False))
    default_rate: float
    channel_rates: dict[str, float] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )
    queue_rates: dict[str, float] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )
    #: An agent with fewer invitations this month is invited whatever the rate.
    min_per_agent: int = 0
    delay_minutes: int = 5
    reply_window_hours: int = 24
    quiet_start: str = Field(default="21:00", max_length=5)
    quiet_end: str = Field(default="08:00", max_length=5)
    rate_per_second: float = 10.0
    state: str = Field(default="running", max_length=16)
    sampling_key: str = Field(max_length=64)
    created_at: datetime = _when()


class ContactEvent(SQLModel, table=True):
    """One contact event (a hotline call, a hall visit, a chat) and its one decision.

    ``contact_id`` is unique: an event decided once answers with its stored decision
    whichever way it arrives again. The customer's number is kept for the frequency rules'
    reports; ``customer_id`` and ``invitation_id`` are set for an invited contact only.
    """

    __tablename__ = "contact_event"
    __table_args__ = (
        CheckConstraint(status_check(ContactDecision, "decision"), name="ck_contact_decision"),
        CheckConstraint(status_check(ContactSource, "source"), name="ck_contact_source"),
        Index("ix_contact_event_agent", "programme_id", "agent_id", "decision", "ended_at"),
        # The reports and the console's "today" read a programme's contacts of a span.
        Index("ix_contact_event_ended", "programme_id", "ended_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    contact_id: str = Field(max_length=64, unique=True)
    programme_id: int = Field(foreign_key="programme.id")
    phone_e164: str = Field(max_length=20, index=True)
    channel: str = Field(max_length=32)
    ended_at: datetime = Field(sa_type=UTCDateTime)
    agent_id: str | None = Field(default=None, max_length=64)
    team: str | None = Field(default=None, max_length=64)
    queue: str | None = Field(default=None, max_length=64)
    region: str | None = Field(default=None, max_length=64)
    service_hall: str | None = Field(default=None, max_length=64)
    attributes: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    source: str = Field(max_length=8)
    received_at: datetime = _when()
    decision: str = Field(max_length=16)
    reason: str = Field(max_length=500)
    customer_id: int | None = Field(default=None, foreign_key="customer.id")
    invitation_id: int | None = Field(default=None, foreign_key="invitation.id")


class ContactGuard(SQLModel, table=True):
    """The contact-frequency rules' one row per phone number, across every programme and
    campaign (survey.campaigns.frequency).

    An invitation is allowed when ``blocked_until`` has passed and the number has had fewer
    than the quarter's limit in ``quarter``; one conditional upsert checks and takes it, so
    that two processes inviting one number at once give one invitation.
    """

    __tablename__ = "contact_guard"

    phone_e164: str = Field(primary_key=True, max_length=20)
    last_invited_at: datetime = Field(sa_type=UTCDateTime)
    blocked_until: datetime = Field(sa_type=UTCDateTime)
    #: The calendar quarter of the last invitation, e.g. "2026Q3", and its count in it.
    quarter: str = Field(max_length=6)
    quarter_count: int


class ProgrammeIncentive(SQLModel, table=True):
    """A programme's incentive rule (survey.programmes.incentives): loyalty points per
    answered question and per completed survey, a cap per customer per month, and whether a
    monthly lottery is drawn among the customers who completed.

    Only responses completed from ``effective_from`` (when the rule was first set) earn
    anything: no customer was promised points before.
    """

    __tablename__ = "programme_incentive"

    programme_id: int = Field(primary_key=True, foreign_key="programme.id")
    points_per_question: int = Field(default=0, ge=0)
    points_per_survey: int = Field(default=0, ge=0)
    #: Points per customer per calendar month (the service's time zone); None: no cap.
    monthly_cap: int | None = Field(default=None, ge=1)
    lottery: bool = False
    effective_from: datetime = _when()
    updated_at: datetime = _when()


class LoyaltyExport(SQLModel, table=True):
    """One batch of loyalty credits written for the loyalty system (``--again`` rewrites it)."""

    __tablename__ = "loyalty_export"

    id: int | None = Field(default=None, primary_key=True)
    programme_id: int = Field(foreign_key="programme.id", index=True)
    exported_at: datetime = _when()
    credits: int
    points: int


class LoyaltyCredit(SQLModel, table=True):
    """The loyalty points one completed response earned: one row per response (unique), so
    crediting twice credits once. ``points`` may be 0 when the monthly cap was reached
    (``reason`` says so); such a row is never exported.

    ``phone_e164`` is personal data: the loyalty system needs it, and only whoever may see
    phone numbers (``view_phone_numbers``, or the operator at the command line) may export it.
    """

    __tablename__ = "loyalty_credit"
    __table_args__ = (
        Index("ix_loyalty_credit_cap", "programme_id", "phone_e164", "period"),
        Index("ix_loyalty_credit_export", "programme_id", "exported_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    programme_id: int = Field(foreign_key="programme.id")
    response_id: int = Field(foreign_key="response.id", unique=True)
    phone_e164: str = Field(max_length=20)
    #: The calendar month of the response's completion, e.g. "2026-12" (the cap's month).
    period: str = Field(max_length=7)
    points: int = Field(ge=0)
    reason: str = Field(max_length=200)
    credited_at: datetime = _when()
    exported_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    export_id: int | None = Field(default=None, foreign_key="loyalty_export.id", index=True)


class LotteryDraw(SQLModel, table=True):
    """One programme's lottery for one month, drawn once (unique), reproducible: the
    entrants (their numbers, sorted) and the seed give the winners again
    (survey.programmes.incentives.pick_winners); ``entrants_sha256`` fingerprints the list.
    """

    __tablename__ = "lottery_draw"
    __table_args__ = (UniqueConstraint("programme_id", "period", name="uq_lottery_draw"),)

    id: int | None = Field(default=None, primary_key=True)
    programme_id: int = Field(foreign_key="programme.id")
    period: str = Field(max_length=7)
    #: 0 <= seed < 2**31 (an INTEGER column on both databases).
    seed: int
    entrants_count: int
    entrants_sha256: str = Field(max_length=64)
    entrants: list[str] = Field(sa_column=Column(JSON, nullable=False))
    #: In the order drawn.
    winners: list[str] = Field(sa_column=Column(JSON, nullable=False))
    drawn_at: datetime = _when()
