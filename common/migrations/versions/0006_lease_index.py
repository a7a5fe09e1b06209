"""The lease index: recovery of expired leases reads (status, locked_until), both conditions
of its locking read, so that it locks no RUNNING job whose lease is still live.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_jobs_lease", "jobs", ["status", "locked_until"])


def downgrade() -> None:
    op.drop_index("ix_jobs_lease", "jobs")
