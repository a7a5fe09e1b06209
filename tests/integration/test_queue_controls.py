"""Queue controls in the claim, one claimer at a time, on every backend (the concurrent
proofs are in test_queue_controls_concurrency.py)."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import Engine, select

from common.claim import ClaimMode, claim, claim_in
from common.db import transaction
from common.models import jobs, queue_changes
from common.queue_controls import QueueControls, RateLimit, read_controls, set_controls
from common.states import Status
from tests.databases import statements_sent
from tests.factories import expire_lease, make_jobs, status_of

S = Status


def claimed(engine: Engine, limit: int = 100, **options: object) -> list[tuple[int, str]]:
    jobs = claim(engine, worker_id="w1", limit=limit, lease_seconds=60, **options)  # type: ignore[arg-type]
    return [(job.id, job.queue) for job in jobs]


def control(engine: Engine, queue: str, **controls: object) -> None:
    set_controls(engine, queue, QueueControls(**controls), changed_by="test")  # type: ignore[arg-type]


def test_a_paused_queue_is_not_claimed_while_the_others_are(engine: Engine) -> None:
    paused = make_jobs(engine, 3, queue="mail", priority=10)  # first in claim order
    others = make_jobs(engine, 2, queue="default")
    control(engine, "mail", paused=True)

    assert sorted(claimed(engine)) == [(i, "default") for i in others]
    assert {status_of(engine, i) for i in paused} == {S.SCHEDULED}


def test_a_resumed_queue_is_claimable_at_once(engine: Engine) -> None:
    ids = make_jobs(engine, 3, queue="mail")
    control(engine, "mail", paused=True)
    assert claimed(engine, queues=["mail"]) == []
    control(engine, "mail", paused=False)
    assert sorted(claimed(engine, queues=["mail"])) == [(i, "mail") for i in ids]


def test_max_running_counts_the_jobs_already_running(engine: Engine) -> None:
    make_jobs(engine, 10, queue="api")
    control(engine, "api", max_running=3)

    assert len(claimed(engine, limit=2)) == 2
    assert len(claimed(engine, limit=10)) == 1  # 2 running: one slot left
    assert claimed(engine, limit=10) == []


def test_an_expired_lease_frees_its_slot(engine: Engine) -> None:
    make_jobs(engine, 3, queue="api")
    expired = make_jobs(engine, 2, S.RUNNING, queue="api")
    for job_id in expired:
        expire_lease(engine, job_id)
    control(engine, "api", max_running=2)
    assert len(claimed(engine)) == 2


def test_the_per_key_limit_holds_back_only_the_busy_keys(engine: Engine) -> None:
    make_jobs(engine, 6, queue="tenants", concurrency_key="acme", priority=5)
    make_jobs(engine, 3, queue="tenants", concurrency_key="globex")
    make_jobs(engine, 2, queue="tenants")  # no key: never held back by the per-key limit
    control(engine, "tenants", max_running_per_key=1)

    first = claim(engine, worker_id="w1", limit=10, lease_seconds=60)
    keys = Counter(_key(engine, job.id) for job in first)
    assert keys == {"acme": 1, "globex": 1, None: 2}
    assert claimed(engine) == []  # one of each key runs; the rest waits for them


def test_a_queue_full_of_one_key_does_not_starve_the_next_key(engine: Engine) -> None:
    make_jobs(engine, 300, queue="tenants", concurrency_key="big", priority=5)
    late = make_jobs(engine, 1, queue="tenants", concurrency_key="small")
    control(engine, "tenants", max_running_per_key=2)
    ids = [job_id for job_id, _ in claimed(engine, limit=5)]
    assert late[0] in ids and len(ids) == 3


def test_the_rate_limit_allows_its_burst_then_waits_for_tokens(engine: Engine) -> None:
    make_jobs(engine, 20, queue="sms")
    control(engine, "sms", rate_limit=RateLimit(per_second=0.01, burst=4))

    assert len(claimed(engine, limit=10)) == 4
    assert claimed(engine, limit=10) == []  # the next token comes in 100 s
    assert _statuses(engine, "sms") == {S.RUNNING: 4, S.SCHEDULED: 16}


def test_controls_declared_in_the_registry_apply_until_an_operator_sets_others(
    engine: Engine,
) -> None:
    make_jobs(engine, 4, queue="tenants", concurrency_key="acme")
    declared = {"tenants": QueueControls(max_running_per_key=1)}

    assert len(claimed(engine, declared=declared)) == 1
    control(engine, "tenants", max_running_per_key=3)
    assert len(claimed(engine, declared=declared)) == 2
    with engine.connect() as conn:
        assert read_controls(conn, declared)["tenants"].max_running_per_key == 3


def test_every_change_is_audited_with_who_and_what(engine: Engine) -> None:
    control(engine, "mail", paused=True)
    set_controls(engine, "mail", QueueControls(max_running=2), changed_by="ops@example.com")
    with engine.connect() as conn:
        rows = conn.execute(select(queue_changes).order_by(queue_changes.c.id)).all()
    assert [
        (r.queue, r.changed_by, r.controls["paused"], r.controls["max_running"]) for r in rows
    ] == [
        ("mail", "test", True, None),
        ("mail", "ops@example.com", False, 2),
    ]
    assert all(r.changed_at is not None for r in rows)


@pytest.mark.parametrize("limit", [1, 5])
def test_queues_without_controls_are_claimed_as_before(engine: Engine, limit: int) -> None:
    make_jobs(engine, 6, queue="free", priority=1)
    make_jobs(engine, 3, queue="api")
    control(engine, "api", max_running=1)
    got = Counter(queue for _, queue in claimed(engine, limit=limit))
    assert got["api"] <= 1 and sum(got.values()) == limit


def _key(engine: Engine, job_id: int) -> str | None:
    with engine.connect() as conn:
        return conn.execute(select(jobs.c.concurrency_key).where(jobs.c.id == job_id)).scalar()


def _statuses(engine: Engine, queue: str) -> Counter[str]:
    with engine.connect() as conn:
        rows = conn.execute(select(jobs.c.status).where(jobs.c.queue == queue)).scalars()
        return Counter(rows)


def test_a_claimer_that_saw_no_controls_obeys_ones_set_since(engine: Engine) -> None:
    """A tick keeps its ClaimMode from claim to claim: controls set meanwhile still count."""
    make_jobs(engine, 3, queue="mail", priority=5)
    make_jobs(engine, 3, queue="default")
    mode = ClaimMode()

    def take(limit: int) -> list[str]:
        with transaction(engine) as conn:
            jobs = claim_in(conn, worker_id="w1", limit=limit, lease_seconds=60, mode=mode)
            return [job.queue for job in jobs]

    assert take(1) == ["mail"] and mode.controlled is False
    control(engine, "mail", paused=True)
    assert take(10) == ["default"] * 3
    assert mode.controlled is True


def test_a_claim_naming_queues_reads_no_controls_while_none_exist(engine: Engine) -> None:
    """Without controls, a claim of named queues is its candidates' read and the lease's UPDATE:
    the candidates say whether controls have appeared, as the claim of every queue does."""
    make_jobs(engine, 2, queue="mail")
    mode = ClaimMode()
    with statements_sent(engine) as sent, transaction(engine) as conn:
        jobs = claim_in(conn, worker_id="w1", limit=5, lease_seconds=60, queues=["mail"], mode=mode)
    assert [job.queue for job in jobs] == ["mail", "mail"]
    reads = [s for s, _ in sent if s.lstrip().upper().startswith("SELECT")]
    assert len(reads) == 1  # no read of queue_settings' rows
    assert mode.controlled is False


def test_a_claimer_naming_queues_obeys_controls_set_since(engine: Engine) -> None:
    make_jobs(engine, 3, queue="mail")
    mode = ClaimMode()

    def take(limit: int) -> list[str]:
        with transaction(engine) as conn:
            jobs = claim_in(
                conn, worker_id="w1", limit=limit, lease_seconds=60, queues=["mail"], mode=mode
            )
            return [job.queue for job in jobs]

    assert take(1) == ["mail"] and mode.controlled is False
    control(engine, "mail", paused=True)
    assert take(10) == []
    assert mode.controlled is True
    assert _statuses(engine, "mail") == Counter({S.SCHEDULED: 2, S.RUNNING: 1})
