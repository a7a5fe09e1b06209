"""Operations: the error fingerprint of dead-lettered jobs, and the indexes that the DLQ
grouping, the dashboard's listings and counts, and the metrics read.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op

from common.fingerprint import fingerprint

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

JOBS_INDEXES = {
    # GET /dlq from the index alone (only DLQ jobs have a fingerprint). No status in it: every
    # status change of every job would update it (each index with the status cost the drain
    # ~5%); finished_at changes once per job.
    "ix_jobs_error_fingerprint": ["error_fingerprint", "finished_at"],
    # Listings by status (and queue), newest first, and the counts by status and queue.
    "ix_jobs_status_queue": ["status", "queue", "id"],
}


def upgrade() -> None:
    op.add_column("jobs", sa.Column("error_fingerprint", sa.String(16)))
    _fingerprint_the_dlq()
    for name, columns in JOBS_INDEXES.items():
        op.create_index(name, "jobs", columns)
    op.create_index("ix_job_attempts_ended_at", "job_attempts", ["ended_at", "outcome"])


def downgrade() -> None:
    op.drop_index("ix_job_attempts_ended_at", "job_attempts")
    for name in JOBS_INDEXES:
        op.drop_index(name, "jobs")
    with op.batch_alter_table("jobs") as batch:  # SQLite drops a column by copying the table
        batch.drop_column("error_fingerprint")
    if op.get_bind().dialect.name == "sqlite":  # and the copy loses the claim index's DESC
        op.drop_index("ix_jobs_claim", "jobs")
        op.create_index(
            "ix_jobs_claim", "jobs", ["status", sa.text("priority DESC"), "run_at", "id"]
        )


def _fingerprint_the_dlq(batch: int = 1000) -> None:
    """Give the jobs already in the DLQ their fingerprint, so that they join their groups."""
    jobs = sa.table(
        "jobs",
        sa.column("id"),
        sa.column("type"),
        sa.column("status"),
        sa.column("last_error"),
        sa.column("error_fingerprint"),
    )
    conn, after = op.get_bind(), 0
    while True:
        rows = conn.execute(
            sa.select(jobs.c.id, jobs.c.type, jobs.c.last_error)
            .where(jobs.c.status == "DLQ", jobs.c.id > after)
            .order_by(jobs.c.id)
            .limit(batch)
        ).all()
        if not rows:
            return
        for row in rows:
            conn.execute(
                jobs.update()
                .where(jobs.c.id == row.id)
                .values(error_fingerprint=fingerprint(row.type, row.last_error))
            )
        after = rows[-1].id
