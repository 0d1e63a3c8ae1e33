"""An index of a programme's contacts by when they ended: ``ix_contact_event_ended``.

The agents page and ``manyi contacts report`` count a programme's contacts of a span, and
the console's programmes page today's: without it, each scanned every contact the
programme ever had (hundreds of thousands a day at a province's hotline).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06
"""

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_contact_event_ended", "contact_event", ["programme_id", "ended_at"])


def downgrade() -> None:
    op.drop_index("ix_contact_event_ended", table_name="contact_event")
