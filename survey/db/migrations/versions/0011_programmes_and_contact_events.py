"""Standing programmes fed by contact events, each event's one decision, and the
contact-frequency rules' one row per phone number.

- ``programme``: a standing campaign fed by events (its ``campaign`` carries the
  invitations, outbox rows and responses), with its sampling rates and its state;
- ``contact_event``: one row per ``contact_id`` with its decision and reason;
- ``contact_guard``: one row per phone number, taken by one conditional upsert when a
  customer is invited (survey.campaigns.frequency).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-20
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

TEXT = sqlmodel.sql.sqltypes.AutoString
WHEN = sa.DateTime(timezone=True)

# Written out here, as a migration must not change when the enums do.
PROGRAMME_STATES = ("running", "paused")
DECISIONS = ("invited", "sampled_out", "frequency_capped", "opted_out", "duplicate",
             "outside_window", "invalid")  # fmt: skip
SOURCES = ("api", "file", "queue")


def _in(column: str, values) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def upgrade() -> None:
    op.create_table(
        "programme",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", TEXT(length=100), nullable=False),
        sa.Column("questionnaire_version_id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("frame_id", sa.Integer(), nullable=False),
        sa.Column("mode", TEXT(length=16), nullable=False),
        sa.Column("channels", sa.JSON(), nullable=False),
        sa.Column("default_rate", sa.Float(), nullable=False),
        sa.Column("channel_rates", sa.JSON(), nullable=False),
        sa.Column("queue_rates", sa.JSON(), nullable=False),
        sa.Column("min_per_agent", sa.Integer(), nullable=False),
        sa.Column("delay_minutes", sa.Integer(), nullable=False),
        sa.Column("reply_window_hours", sa.Integer(), nullable=False),
        sa.Column("quiet_start", TEXT(length=5), nullable=False),
        sa.Column("quiet_end", TEXT(length=5), nullable=False),
        sa.Column("rate_per_second", sa.Float(), nullable=False),
        sa.Column("state", TEXT(length=16), nullable=False),
        sa.Column("sampling_key", TEXT(length=64), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.CheckConstraint(_in("state", PROGRAMME_STATES), name="ck_programme_state"),
        sa.ForeignKeyConstraint(["questionnaire_version_id"], ["questionnaire_version.id"]),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaign.id"]),
        sa.ForeignKeyConstraint(["frame_id"], ["sample_frame.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
        sa.UniqueConstraint("campaign_id"),
    )
    op.create_table(
        "contact_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contact_id", TEXT(length=64), nullable=False),
        sa.Column("programme_id", sa.Integer(), nullable=False),
        sa.Column("phone_e164", TEXT(length=20), nullable=False),
        sa.Column("channel", TEXT(length=32), nullable=False),
        sa.Column("ended_at", WHEN, nullable=False),
        sa.Column("agent_id", TEXT(length=64), nullable=True),
        sa.Column("team", TEXT(length=64), nullable=True),
        sa.Column("queue", TEXT(length=64), nullable=True),
        sa.Column("region", TEXT(length=64), nullable=True),
        sa.Column("service_hall", TEXT(length=64), nullable=True),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("source", TEXT(length=8), nullable=False),
        sa.Column("received_at", WHEN, nullable=False),
        sa.Column("decision", TEXT(length=16), nullable=False),
        sa.Column("reason", TEXT(length=500), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("invitation_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(_in("decision", DECISIONS), name="ck_contact_decision"),
        sa.CheckConstraint(_in("source", SOURCES), name="ck_contact_source"),
        sa.ForeignKeyConstraint(["programme_id"], ["programme.id"]),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"]),
        sa.ForeignKeyConstraint(["invitation_id"], ["invitation.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("contact_id"),
    )
    op.create_index("ix_contact_event_phone_e164", "contact_event", ["phone_e164"])
    op.create_index(
        "ix_contact_event_agent",
        "contact_event",
        ["programme_id", "agent_id", "decision", "ended_at"],
    )
    op.create_table(
        "contact_guard",
        sa.Column("phone_e164", TEXT(length=20), nullable=False),
        sa.Column("last_invited_at", WHEN, nullable=False),
        sa.Column("blocked_until", WHEN, nullable=False),
        sa.Column("quarter", TEXT(length=6), nullable=False),
        sa.Column("quarter_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("phone_e164"),
    )


def downgrade() -> None:
    op.drop_table("contact_guard")
    op.drop_index("ix_contact_event_agent", table_name="contact_event")
    op.drop_index("ix_contact_event_phone_e164", table_name="contact_event")
    op.drop_table("contact_event")
    op.drop_table("programme")
