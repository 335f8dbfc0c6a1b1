"""searches and feedback

Revision ID: 0001
Revises:
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from app.storage.models import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "searches",
        sa.Column("query_id", sa.String(32), primary_key=True),
        sa.Column("query", sa.Text(), nullable=False),
        sa.Column("lang", sa.String(8), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("top_ids", sa.JSON(), nullable=False),
        sa.Column("top_confidence", sa.Float(), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("index_version", sa.String(64), nullable=False),
    )
    with op.batch_alter_table("searches") as batch:
        batch.create_index("ix_searches_created_at", ["created_at"])
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("query_id", sa.String(32),
                  sa.ForeignKey("searches.query_id", ondelete="SET NULL", name="fk_feedback_query_id_searches"),
                  nullable=True),
        sa.Column("answer_id", sa.String(200), nullable=False),
        sa.Column("helpful", sa.Boolean(), nullable=False),
        sa.Column("comment", sa.String(1000), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    with op.batch_alter_table("feedback") as batch:
        batch.create_index("ix_feedback_query_id", ["query_id"])
        batch.create_index("ix_feedback_created_at", ["created_at"])


def downgrade() -> None:
    op.drop_table("feedback")
    op.drop_table("searches")
