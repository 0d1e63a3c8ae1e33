"""Follow-ups that managers act on: who is to call the customer back, and an escalation.

- ``follow_up.assigned_to`` (a staff member who makes calls) and ``assigned_at``;
- ``follow_up.escalated_at`` and ``escalation`` (why, in the manager's words).

Who did each and when is in the audit log (survey.remedy.actions), which is the case's
history; these columns hold the case's present state, for lists and the queue.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

COLUMNS = [
    sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("escalation", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
]


def upgrade() -> None:
    # A column with its reference in one plain statement, which SQLite and PostgreSQL both
    # take (Alembic would add the constraint apart, which SQLite cannot).
    op.execute("ALTER TABLE follow_up ADD COLUMN assigned_to INTEGER REFERENCES staff (id)")
    for column in COLUMNS:
        op.add_column("follow_up", column)


def downgrade() -> None:
    # Plain ALTER TABLE ... DROP COLUMN (SQLite 3.35 and later), as in 0008.
    for name in [column.name for column in reversed(COLUMNS)] + ["assigned_to"]:
        op.execute(f"ALTER TABLE follow_up DROP COLUMN {name}")
