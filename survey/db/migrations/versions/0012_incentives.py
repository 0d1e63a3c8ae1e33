"""Incentives: a programme's loyalty-point rule, the credits, their export batches, and the
monthly lottery draws.

- ``programme_incentive``: one rule per programme (points per answered question and per
  completed survey, a monthly cap per customer, whether a lottery runs);
- ``loyalty_credit``: one row per credited response (unique), exported once;
- ``loyalty_export``: one row per batch written for the loyalty system;
- ``lottery_draw``: one draw per programme and month (unique), with its seed and entrants.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-28
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

TEXT = sqlmodel.sql.sqltypes.AutoString
WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "programme_incentive",
        sa.Column("programme_id", sa.Integer(), nullable=False),
        sa.Column("points_per_question", sa.Integer(), nullable=False),
        sa.Column("points_per_survey", sa.Integer(), nullable=False),
        sa.Column("monthly_cap", sa.Integer(), nullable=True),
        sa.Column("lottery", sa.Boolean(), nullable=False),
        sa.Column("effective_from", WHEN, nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(["programme_id"], ["programme.id"]),
        sa.PrimaryKeyConstraint("programme_id"),
    )
    op.create_table(
        "loyalty_export",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("programme_id", sa.Integer(), nullable=False),
        sa.Column("exported_at", WHEN, nullable=False),
        sa.Column("credits", sa.Integer(), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["programme_id"], ["programme.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_loyalty_export_programme_id", "loyalty_export", ["programme_id"])
    op.create_table(
        "loyalty_credit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("programme_id", sa.Integer(), nullable=False),
        sa.Column("response_id", sa.Integer(), nullable=False),
        sa.Column("phone_e164", TEXT(length=20), nullable=False),
        sa.Column("period", TEXT(length=7), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("reason", TEXT(length=200), nullable=False),
        sa.Column("credited_at", WHEN, nullable=False),
        sa.Column("exported_at", WHEN, nullable=True),
        sa.Column("export_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["programme_id"], ["programme.id"]),
        sa.ForeignKeyConstraint(["response_id"], ["response.id"]),
        sa.ForeignKeyConstraint(["export_id"], ["loyalty_export.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("response_id"),
    )
    op.create_index(
        "ix_loyalty_credit_cap", "loyalty_credit", ["programme_id", "phone_e164", "period"]
    )
    op.create_index("ix_loyalty_credit_export", "loyalty_credit", ["programme_id", "exported_at"])
    op.create_index("ix_loyalty_credit_export_id", "loyalty_credit", ["export_id"])
    op.create_table(
        "lottery_draw",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("programme_id", sa.Integer(), nullable=False),
        sa.Column("period", TEXT(length=7), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("entrants_count", sa.Integer(), nullable=False),
        sa.Column("entrants_sha256", TEXT(length=64), nullable=False),
        sa.Column("entrants", sa.JSON(), nullable=False),
        sa.Column("winners", sa.JSON(), nullable=False),
        sa.Column("drawn_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(["programme_id"], ["programme.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("programme_id", "period", name="uq_lottery_draw"),
    )


def downgrade() -> None:
    op.drop_table("lottery_draw")
    op.drop_index("ix_loyalty_credit_export_id", table_name="loyalty_credit")
    op.drop_index("ix_loyalty_credit_export", table_name="loyalty_credit")
    op.drop_index("ix_loyalty_credit_cap", table_name="loyalty_credit")
    op.drop_table("loyalty_credit")
    op.drop_index("ix_loyalty_export_programme_id", table_name="loyalty_export")
    op.drop_table("loyalty_export")
    op.drop_table("programme_incentive")
