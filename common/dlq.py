"""The DLQ by error fingerprint: dead jobs grouped by what went wrong (common/fingerprint.py).

Only a job in the DLQ has a fingerprint (the transitions that take a job out clear it), so the
grouping reads index ix_jobs_error_fingerprint (error_fingerprint, finished_at, and the primary
key InnoDB appends) alone, past its NULLs; then each group's sample by primary key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from common.fingerprint import pattern
from common.models import jobs

DEFAULT_GROUPS = 100


@dataclass(frozen=True)
class DlqGroup:
    """Dead jobs alike: ``count`` of them, dead-lettered from ``first_seen`` to ``last_seen``;
    the newest one is the sample."""

    fingerprint: str
    type: str
    pattern: str
    sample_error: str | None
    sample_job_id: int
    count: int
    first_seen: datetime
    last_seen: datetime

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def dlq_groups(conn: Connection, *, limit: int = DEFAULT_GROUPS) -> list[DlqGroup]:
    """The largest ``limit`` groups of DLQ jobs, largest first (then the latest seen)."""
    counted = func.count().label("jobs")
    groups = conn.execute(
        select(
            jobs.c.error_fingerprint,
            counted,
            func.min(jobs.c.finished_at).label("first_seen"),
            func.max(jobs.c.finished_at).label("last_seen"),
            func.max(jobs.c.id).label("sample"),
        )
        .where(jobs.c.error_fingerprint.is_not(None))
        .group_by(jobs.c.error_fingerprint)
        .order_by(counted.desc(), func.max(jobs.c.finished_at).desc())
        .limit(limit)
    ).all()
    samples = {
        row.id: row
        for row in conn.execute(
            select(jobs.c.id, jobs.c.type, jobs.c.last_error).where(
                jobs.c.id.in_([group.sample for group in groups])
            )
        )
    }
    return [
        DlqGroup(
            fingerprint=group.error_fingerprint,
            type=samples[group.sample].type,
            pattern=pattern(samples[group.sample].last_error),
            sample_error=samples[group.sample].last_error,
            sample_job_id=group.sample,
            count=group.jobs,
            first_seen=group.first_seen,
            last_seen=group.last_seen,
        )
        for group in groups
        if group.sample in samples  # a sample pruned between the two reads: gone next time
    ]
