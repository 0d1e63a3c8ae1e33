"""Team leaders: ``staff.teams``, the contact centre's teams a team leader is limited to.

A JSON list like ``staff.regions`` and ``staff.service_halls``; every account so far gets an
empty one (no team limit), written by the column's default so that existing rows need no
UPDATE. The column is added and dropped in place (ALTER TABLE, on SQLite too), as in 0008.

Going down drops the column only: a ``team_leader`` account stays, with a role the older
code does not know and therefore grants nothing.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The default fills the rows already there; SQLite refuses a NOT NULL column without one.
    op.add_column(
        "staff", sa.Column("teams", sa.JSON(), nullable=False, server_default=sa.text("'[]'"))
    )


def downgrade() -> None:
    # Plain ALTER TABLE ... DROP COLUMN (SQLite 3.35 and later): Alembic's batch mode would
    # copy the table.
    op.execute("ALTER TABLE staff DROP COLUMN teams")
