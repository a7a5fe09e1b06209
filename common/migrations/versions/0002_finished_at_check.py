"""finished_at is set exactly when the status is terminal (SUCCESS, DLQ, CANCELLED).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

CONSTRAINT = "ck_jobs_finished_iff_terminal"  # op.f: the name as it is, not a convention's
terminal = "'SUCCESS', 'DLQ', 'CANCELLED'"
finished_iff_terminal = (
    f"(status IN ({terminal}) AND finished_at IS NOT NULL)"
    f" OR (status NOT IN ({terminal}) AND finished_at IS NULL)"
)


def upgrade() -> None:
    # Rows written before the constraint may break it (a terminal job without finished_at from
    # a hand-made UPDATE, say): make them agree, using the time the row last changed.
    jobs = sa.table("jobs", sa.column("status"), sa.column("finished_at"), sa.column("updated_at"))
    is_terminal = jobs.c.status.in_(["SUCCESS", "DLQ", "CANCELLED"])
    op.execute(
        jobs.update()
        .where(is_terminal, jobs.c.finished_at.is_(None))
        .values(finished_at=jobs.c.updated_at)
    )
    op.execute(
        jobs.update().where(~is_terminal, jobs.c.finished_at.is_not(None)).values(finished_at=None)
    )
    # SQLite cannot add a constraint to a table: batch mode copies the table into a new one.
    with op.batch_alter_table("jobs") as batch:
        batch.create_check_constraint(op.f(CONSTRAINT), finished_iff_terminal)
    _restore_claim_index()


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_constraint(op.f(CONSTRAINT), type_="check")
    _restore_claim_index()


def _restore_claim_index() -> None:
    # SQLite's copy of the table loses the index's DESC, and the claim would sort: rebuild it.
    if op.get_bind().dialect.name == "sqlite":
        op.drop_index("ix_jobs_claim", "jobs")
        op.create_index(
            "ix_jobs_claim", "jobs", ["status", sa.text("priority DESC"), "run_at", "id"]
        )
