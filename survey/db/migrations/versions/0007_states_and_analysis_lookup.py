"""Every status column checked against its states; analyses found by indexed columns.

- A CHECK constraint on each ``status`` column (campaign, invitation, outbound_sms, response,
  call_case, follow_up, analysis) admits exactly the states of ``survey.db.states``. A
  database holding another value is not changed: the upgrade stops and names the rows.
- ``analysis`` gets ``period``, ``segment`` and ``filters_hash`` (SHA-256 of the request's
  canonical filters), filled in from each stored request, and the index the managers' pages
  look analyses up by.

The states are written out here, not imported: a migration must keep meaning what it meant.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

import hashlib
import json

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

STATES = {
    "campaign": ("draft", "running", "paused", "closed"),
    "invitation": (
        "created", "invited", "opened", "started", "completed", "opted_out", "no_consent",
        "expired",
    ),
    "outbound_sms": ("pending", "claimed", "sending", "sent", "failed", "uncertain", "skipped"),
    "response": ("in_progress", "completed"),
    "call_case": ("open", "final"),
    "follow_up": ("open", "closed"),
    "analysis": ("queued", "running", "done", "failed"),
}  # fmt: skip
LOOKUP = ["questionnaire_version_id", "status", "period", "segment", "filters_hash", "id"]


def _condition(states: tuple[str, ...]) -> str:
    return "status IN (" + ", ".join(f"'{state}'" for state in states) + ")"


def _refuse_unknown_states(connection) -> None:
    found = []
    for table, states in STATES.items():
        rows = connection.execute(
            sa.text(f"SELECT status, COUNT(*) FROM {table} WHERE NOT ({_condition(states)}) "  # noqa: S608 (our own names)
                    "GROUP BY status")  # fmt: skip
        ).all()
        found += [f"{table}: {count} row(s) with status {status!r}" for status, count in rows]
    if found:
        raise RuntimeError(
            "cannot add the status checks: " + "; ".join(found) + ". Each status must be one "
            "of survey.db.states; correct those rows, then run `manyi db upgrade` again"
        )


def _filters_hash(filters) -> str:
    # survey.analyses.jobs.filters_hash, as of this revision.
    canonical = json.dumps(filters or {}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def upgrade() -> None:
    connection = op.get_bind()
    _refuse_unknown_states(connection)
    with op.batch_alter_table("analysis", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("period", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True)
        )
        batch_op.add_column(
            sa.Column("segment", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True)
        )
        batch_op.add_column(
            sa.Column("filters_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
        )
    analysis = sa.table(
        "analysis",
        sa.column("id", sa.Integer),
        sa.column("request", sa.JSON),
        sa.column("period", sa.String),
        sa.column("segment", sa.String),
        sa.column("filters_hash", sa.String),
    )
    for job_id, request in connection.execute(sa.select(analysis.c.id, analysis.c.request)).all():
        connection.execute(
            analysis.update()
            .where(analysis.c.id == job_id)
            .values(
                period=request.get("period"),
                segment=request.get("segment"),
                filters_hash=_filters_hash(request.get("filters")),
            )
        )
    for table, states in STATES.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            if table == "analysis":
                batch_op.alter_column(
                    "filters_hash",
                    existing_type=sqlmodel.sql.sqltypes.AutoString(length=64),
                    nullable=False,
                )
                batch_op.create_index("ix_analysis_lookup", LOOKUP, unique=False)
            batch_op.create_check_constraint(f"ck_{table}_status", _condition(states))


def downgrade() -> None:
    for table in STATES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(f"ck_{table}_status", type_="check")
            if table == "analysis":
                batch_op.drop_index("ix_analysis_lookup")
                batch_op.drop_column("filters_hash")
                batch_op.drop_column("segment")
                batch_op.drop_column("period")
