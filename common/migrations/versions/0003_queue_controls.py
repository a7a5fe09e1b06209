"""Queue controls: a settings row per controlled queue, their audit, jobs' concurrency_key,
and the per-queue claim index.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

job_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
utc = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def upgrade() -> None:
    op.add_column("jobs", sa.Column("concurrency_key", sa.String(255)))
    op.create_index(
        "ix_jobs_queue_claim",
        "jobs",
        ["status", "queue", sa.text("priority DESC"), "run_at", "id"],
    )
    op.create_table(
        "queue_settings",
        sa.Column("queue", sa.String(64), primary_key=True),
        sa.Column("paused", sa.Boolean, nullable=False),
        sa.Column("max_running", sa.Integer),
        sa.Column("max_running_per_key", sa.Integer),
        sa.Column("rate_per_second", sa.Float),
        sa.Column("rate_burst", sa.Integer),
        sa.Column("tokens", sa.Float),
        sa.Column("tokens_at", utc),
        sa.Column("updated_at", utc, nullable=False),
        sa.Column("updated_by", sa.String(128), nullable=False),
        sa.PrimaryKeyConstraint("queue", name="pk_queue_settings"),
    )
    op.create_table(
        "queue_changes",
        sa.Column("id", job_id, primary_key=True, autoincrement=True),
        sa.Column("queue", sa.String(64), nullable=False),
        sa.Column("changed_at", utc, nullable=False),
        sa.Column("changed_by", sa.String(128), nullable=False),
        sa.Column("controls", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_queue_changes"),
    )
    op.create_index("ix_queue_changes_queue", "queue_changes", ["queue", "id"])


def downgrade() -> None:
    op.drop_table("queue_changes")
    op.drop_table("queue_settings")
    op.drop_index("ix_jobs_queue_claim", "jobs")
    with op.batch_alter_table("jobs") as batch:  # SQLite drops a column by copying the table
        batch.drop_column("concurrency_key")
    if op.get_bind().dialect.name == "sqlite":  # whose copy of the claim index lost its DESC
        op.drop_index("ix_jobs_claim", "jobs")
        op.create_index(
            "ix_jobs_claim", "jobs", ["status", sa.text("priority DESC"), "run_at", "id"]
        )
