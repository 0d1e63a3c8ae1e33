"""The states a row can be in, one enum per status column, checked by the database.

Each enum is a ``StrEnum``: its members are the very strings stored, so a member compares
equal to the text read back and the database needs no mapping. Migration 0007 puts a CHECK
constraint on every column named here (:data:`STATUS_COLUMNS`), so a misspelt state is
refused by the database, not stored.
"""

from __future__ import annotations

from enum import StrEnum


class CampaignStatus(StrEnum):
    DRAFT = "draft"
    RUNNING = "running"
    PAUSED = "paused"
    CLOSED = "closed"


class InvitationStatus(StrEnum):
    CREATED = "created"
    INVITED = "invited"
    OPENED = "opened"
    STARTED = "started"
    COMPLETED = "completed"
    OPTED_OUT = "opted_out"
    NO_CONSENT = "no_consent"
    EXPIRED = "expired"
    #: Not sent: the contact-frequency rules did not allow it when it was about to go
    #: (migration 0014). Removed from the sample, not a nonrespondent.
    FREQUENCY_CAPPED = "frequency_capped"


class SmsStatus(StrEnum):
    """An outbox row: pending -> claimed -> sending -> sent | failed | uncertain; skipped."""

    PENDING = "pending"
    CLAIMED = "claimed"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    UNCERTAIN = "uncertain"
    SKIPPED = "skipped"


class ResponseStatus(StrEnum):
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"


class CaseStatus(StrEnum):
    OPEN = "open"
    FINAL = "final"


class FollowUpStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class AnalysisStatus(StrEnum):
    """An analysis job: queued -> running -> done | failed."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class ProgrammeState(StrEnum):
    """A standing programme fed by contact events: running <-> paused.

    Its column is ``state`` (checked by ``ck_programme_state``), not one of
    :data:`STATUS_COLUMNS`, whose checks migration 0007 wrote.
    """

    RUNNING = "running"
    PAUSED = "paused"


class ContactDecision(StrEnum):
    """What was decided for one contact event (survey.programmes.decide)."""

    INVITED = "invited"
    SAMPLED_OUT = "sampled_out"
    FREQUENCY_CAPPED = "frequency_capped"
    OPTED_OUT = "opted_out"
    DUPLICATE = "duplicate"
    OUTSIDE_WINDOW = "outside_window"
    INVALID = "invalid"


class ContactSource(StrEnum):
    """How a contact event arrived."""

    API = "api"
    FILE = "file"
    QUEUE = "queue"


#: Table -> the enum of its ``status`` column.
STATUS_COLUMNS: dict[str, type[StrEnum]] = {
    "campaign": CampaignStatus,
    "invitation": InvitationStatus,
    "outbound_sms": SmsStatus,
    "response": ResponseStatus,
    "call_case": CaseStatus,
    "follow_up": FollowUpStatus,
    "analysis": AnalysisStatus,
}


def status_check(states: type[StrEnum], column: str = "status") -> str:
    """The CHECK condition that admits exactly ``states`` in ``column``."""
    return f"{column} IN (" + ", ".join(f"'{state.value}'" for state in states) + ")"
