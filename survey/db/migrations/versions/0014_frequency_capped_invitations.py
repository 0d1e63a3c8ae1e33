"""Invitations the contact-frequency rules removed: the ``frequency_capped`` status.

A campaign's invitation whose number the rules do not allow when its message is about to
be queued (a customer surveyed by a programme or another campaign within the rules' span)
is kept, marked ``frequency_capped``, and never sent. The status check of ``invitation``
(``ck_invitation_status``, written by 0007) admits the new state. SQLite cannot alter a
CHECK constraint in place: Alembic's batch mode copies the table, as 0007 did.

Going down refuses while an invitation is ``frequency_capped`` (the older code has no
such state), naming how many, as 0007 refuses unknown states.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

BEFORE = ("created", "invited", "opened", "started", "completed", "opted_out", "no_consent",
          "expired")  # fmt: skip
AFTER = (*BEFORE, "frequency_capped")


def _condition(states: tuple[str, ...]) -> str:
    return "status IN (" + ", ".join(f"'{state}'" for state in states) + ")"


def _recheck(states: tuple[str, ...]) -> None:
    with op.batch_alter_table("invitation", schema=None) as batch_op:
        batch_op.drop_constraint("ck_invitation_status", type_="check")
        batch_op.create_check_constraint("ck_invitation_status", _condition(states))


def upgrade() -> None:
    _recheck(AFTER)


def downgrade() -> None:
    capped = (
        op.get_bind()
        .execute(sa.text("SELECT COUNT(*) FROM invitation WHERE status = 'frequency_capped'"))
        .scalar_one()
    )
    if capped:
        raise RuntimeError(
            f"cannot go below 0014: {capped} invitation(s) are frequency_capped, a state the "
            "older schema does not have (none was sent); delete them first"
        )
    _recheck(BEFORE)
