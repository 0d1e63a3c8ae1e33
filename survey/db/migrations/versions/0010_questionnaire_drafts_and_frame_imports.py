"""The operations console's two records of an upload: questionnaire drafts and frame imports.

- ``questionnaire_draft``: an uploaded questionnaire file, the problems its check found and
  the canonical document when it has none, until it is published;
- ``frame_import``: one attempt to import a sample frame with its per-row report, whether or
  not a frame was stored;
- ``campaign.sample_design``: how a campaign's sample was drawn (frame, strata, quotas, size,
  seed), which the live monitor's quota progress compares with.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

TEXT = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.add_column("campaign", sa.Column("sample_design", sa.JSON(), nullable=True))
    op.create_table(
        "questionnaire_draft",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("filename", TEXT(length=255), nullable=False),
        sa.Column("form_id", TEXT(length=64), nullable=True),
        sa.Column("version", TEXT(length=32), nullable=True),
        sa.Column("document", sa.JSON(), nullable=True),
        sa.Column("problems", sa.JSON(), nullable=False),
        sa.Column("uploaded_by", sa.Integer(), nullable=True),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_version_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["uploaded_by"], ["staff.id"]),
        sa.ForeignKeyConstraint(["published_version_id"], ["questionnaire_version.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "frame_import",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", TEXT(length=100), nullable=False),
        sa.Column("filename", TEXT(length=255), nullable=False),
        sa.Column("frame_id", sa.Integer(), nullable=True),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("problems", sa.JSON(), nullable=False),
        sa.Column("imported_by", sa.Integer(), nullable=True),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["frame_id"], ["sample_frame.id"]),
        sa.ForeignKeyConstraint(["imported_by"], ["staff.id"]),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("frame_import")
    op.drop_table("questionnaire_draft")
    # Plain ALTER TABLE ... DROP COLUMN (SQLite 3.35 and later), as in 0008 and 0009.
    op.execute("ALTER TABLE campaign DROP COLUMN sample_design")
