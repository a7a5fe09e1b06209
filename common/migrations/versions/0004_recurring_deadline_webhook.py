"""Recurring slots, job deadlines (not_after) and completion webhooks (callback_url).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-10
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

job_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
utc = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def upgrade() -> None:
    # Nullable columns: added in place on every backend (SQLite included, no table copy).
    op.add_column("jobs", sa.Column("not_after", utc))
    op.add_column("jobs", sa.Column("callback_url", sa.String(2048)))
    op.create_index("ix_jobs_not_after", "jobs", ["not_after"])
    op.create_table(
        "recurring_slots",
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("slot_time", utc, nullable=False),
        sa.Column("job_id", job_id, nullable=False),
        sa.Column("enqueued_at", utc, nullable=False),
        sa.PrimaryKeyConstraint("name", "slot_time", name="pk_recurring_slots"),
    )
    op.create_index("ix_recurring_slots_job_id", "recurring_slots", ["job_id"])


def downgrade() -> None:
    op.drop_table("recurring_slots")
    op.drop_index("ix_jobs_not_after", "jobs")
    # SQLite drops a column by copying the table, which loses ix_jobs_claim's DESC.
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("callback_url")
        batch.drop_column("not_after")
    if op.get_bind().dialect.name == "sqlite":
        op.drop_index("ix_jobs_claim", "jobs")
        op.create_index(
            "ix_jobs_claim", "jobs", ["status", sa.text("priority DESC"), "run_at", "id"]
        )
