"""The jobs table, its claim index, and the attempts table.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Migrations are history: they spell their types out instead of importing today's models.
job_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
utc = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
statuses = "'CREATED', 'SCHEDULED', 'RUNNING', 'SUCCESS', 'FAILED', 'DLQ', 'CANCELLED'"


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", job_id, primary_key=True, autoincrement=True),
        sa.Column("queue", sa.String(64), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("run_at", utc, nullable=False),
        sa.Column("locked_until", utc),
        sa.Column("lease_token", sa.String(32)),
        sa.Column("locked_by", sa.String(128)),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("max_attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("result", sa.JSON),
        sa.Column("idempotency_key", sa.String(255)),
        sa.Column("created_at", utc, nullable=False),
        sa.Column("updated_at", utc, nullable=False),
        sa.Column("started_at", utc),
        sa.Column("finished_at", utc),
        sa.CheckConstraint(f"status IN ({statuses})", name="ck_jobs_status_known"),
        sa.PrimaryKeyConstraint("id", name="pk_jobs"),
    )
    op.create_index("ix_jobs_claim", "jobs", ["status", sa.text("priority DESC"), "run_at", "id"])
    op.create_index("ix_jobs_due", "jobs", ["status", "run_at", "id"])
    op.create_index("ix_jobs_finished_at", "jobs", ["finished_at"])
    op.create_index(
        "uq_jobs_queue_idempotency_key", "jobs", ["queue", "idempotency_key"], unique=True
    )
    op.create_table(
        "job_attempts",
        sa.Column("job_id", job_id, nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("worker_id", sa.String(128)),
        sa.Column("started_at", utc),
        sa.Column("ended_at", utc, nullable=False),
        sa.Column("outcome", sa.String(24), nullable=False),
        sa.Column("error", sa.Text),
        sa.PrimaryKeyConstraint("job_id", "attempt", name="pk_job_attempts"),
    )


def downgrade() -> None:
    op.drop_table("job_attempts")
    op.drop_table("jobs")
