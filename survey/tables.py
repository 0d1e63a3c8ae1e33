"""Database tables of the survey domain (SQLModel).

Times are stored in UTC. Two rules are enforced by the database itself (triggers in the
migrations), not only by the code: a published questionnaire version is never updated, and
answers are append-only (a changed answer is a new row; the latest row per item wins).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Index, UniqueConstraint
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


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


class SampleFrame(SQLModel, table=True):
    """One import of customers (a CSV/XLSX file from the operator's systems)."""

    __tablename__ = "sample_frame"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True)
    source: str = Field(max_length=255)
    n_customers: int = 0
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
    """A survey campaign: one questionnaire version sent to customers through channels."""

    __tablename__ = "campaign"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    questionnaire_version_id: int = Field(foreign_key="questionnaire_version.id", index=True)
    status: str = Field(default="draft", max_length=16)
    created_at: datetime = _when()


class Invitation(SQLModel, table=True):
    """An invitation is a row before it is a message (the transactional outbox).

    Only a hash of the single-use token is stored: a leaked database does not open forms.
    """

    __tablename__ = "invitation"
    __table_args__ = (UniqueConstraint("campaign_id", "customer_id", name="uq_invitation"),)

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id", index=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    channel: str = Field(max_length=16)
    token_hash: str = Field(max_length=64, unique=True)
    status: str = Field(default="pending", max_length=16, index=True)
    created_at: datetime = _when()
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    provider_message_id: str | None = Field(default=None, max_length=64)


class Response(SQLModel, table=True):
    """One customer's response, always tied to the questionnaire version it answered."""

    __tablename__ = "response"
    __table_args__ = (
        UniqueConstraint("questionnaire_version_id", "external_id", name="uq_response_external"),
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
