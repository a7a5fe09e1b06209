"""The DLQ grouped by error fingerprint, and operator actions on one group."""

from __future__ import annotations

from sqlalchemy import Engine

from common.db import transaction
from common.dlq import DEFAULT_GROUPS, DlqGroup, dlq_groups
from common.fingerprint import fingerprint
from common.maintenance import JobFilter, cancel_jobs, retry_jobs
from common.states import Status
from common.transitions import Finished, dead_letter
from tests.factories import job_row, make_job, make_jobs, statuses
from tests.integration.test_transitions import held

S = Status
TIMEOUT = fingerprint("email", "timeout after <n> ms")


def groups_of(engine: Engine, limit: int = DEFAULT_GROUPS) -> list[DlqGroup]:
    with engine.connect() as conn:
        return dlq_groups(conn, limit=limit)


def dead(engine: Engine, count: int, error: str, job_type: str = "email") -> list[int]:
    return make_jobs(
        engine,
        count,
        S.DLQ,
        type=job_type,
        last_error=error,
        error_fingerprint=fingerprint(job_type, error),
    )


def test_dead_lettering_fingerprints_alike_errors_alike(engine: Engine) -> None:
    jobs = [make_job(engine, S.RUNNING, type="email") for _ in range(2)]
    with transaction(engine) as conn:
        for job_id, ms in zip(jobs, (120, 4000), strict=True):
            dead_letter(conn, Finished(held(conn, job_id), error=f"timeout after {ms} ms"))

    prints = {job_row(engine, job_id)["error_fingerprint"] for job_id in jobs}
    assert prints == {TIMEOUT}


def test_the_groups_count_first_and_last_seen_and_a_sample(engine: Engine) -> None:
    timeouts = dead(engine, 3, "timeout after 30 ms")
    refused = dead(engine, 1, "refused by 'bob@example.com'")

    groups = groups_of(engine)

    assert [(g.fingerprint, g.count) for g in groups] == [
        (TIMEOUT, 3),
        (fingerprint("email", "refused by <str>"), 1),
    ]
    first = groups[0]
    assert first.type == "email" and first.pattern == "timeout after <n> ms"
    assert first.sample_job_id == max(timeouts) and first.sample_error == "timeout after 30 ms"
    assert first.first_seen <= first.last_seen
    assert groups[1].sample_job_id == refused[0]


def test_the_groups_are_limited_to_the_largest(engine: Engine) -> None:
    dead(engine, 2, "a")
    dead(engine, 1, "b")
    assert [g.count for g in groups_of(engine, limit=1)] == [2]


def test_retry_and_cancel_act_on_one_group_only(engine: Engine) -> None:
    timeouts = dead(engine, 2, "timeout after 30 ms")
    other = dead(engine, 1, "font missing", job_type="pdf")

    assert retry_jobs(engine, where=JobFilter(fingerprint=TIMEOUT)) == 2
    assert {statuses(engine)[i] for i in timeouts} == {S.SCHEDULED}
    assert {job_row(engine, i)["error_fingerprint"] for i in timeouts} == {None}  # out of it
    assert statuses(engine)[other[0]] == S.DLQ

    pdf = JobFilter(fingerprint=fingerprint("pdf", "font missing"))
    assert cancel_jobs(engine, where=pdf) == 1
    assert statuses(engine)[other[0]] == S.CANCELLED
    assert groups_of(engine) == []
