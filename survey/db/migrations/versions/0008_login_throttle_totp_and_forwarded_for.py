"""Login throttling in a table of its own, one-time codes for staff, the claimed proxy chain.

- ``login_throttle``: failed logins per account, per account and address, and per address,
  each counted by one atomic upsert (survey.staff.throttle), so that concurrent guesses count.
  It starts empty: failures before the upgrade are not carried over.
- ``staff.totp_secret`` (sealed) and ``staff.totp_last_step`` (replay refusal).
- ``audit_log.forwarded_for``: the X-Forwarded-For chain a request claimed, apart from ``ip``.

Columns are added and dropped in place (ALTER TABLE, on SQLite too): copying ``audit_log``
to a new table would lose the trigger that refuses updates.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-14
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

ADDED = {
    "staff": [
        sa.Column("totp_secret", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("totp_last_step", sa.Integer(), nullable=True),
    ],
    "audit_log": [
        sa.Column("forwarded_for", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
    ],
}


def upgrade() -> None:
    op.create_table(
        "login_throttle",
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    for table, columns in ADDED.items():
        for column in columns:
            op.add_column(table, column)


def downgrade() -> None:
    for table, columns in ADDED.items():
        for column in columns:
            # Plain ALTER TABLE ... DROP COLUMN (SQLite 3.35 and later): Alembic's batch mode
            # would copy the table and drop its triggers.
            op.execute(f"ALTER TABLE {table} DROP COLUMN {column.name}")
    op.drop_table("login_throttle")
