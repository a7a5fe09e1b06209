"""The job lifecycle: seven statuses, the one table of transitions between them, and the
outcomes an attempt can end with."""

from __future__ import annotations

from enum import StrEnum

from common.errors import IllegalTransition


class Status(StrEnum):
    CREATED = "CREATED"
    SCHEDULED = "SCHEDULED"
    RUNNING = "RUNNING"
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    DLQ = "DLQ"
    CANCELLED = "CANCELLED"


S = Status

# Every status change the engine makes is one of these edges, and every UPDATE that makes it
# checks the source status in its WHERE clause (see common/transitions.py).
TRANSITIONS: dict[tuple[Status, Status], str] = {
    (S.CREATED, S.SCHEDULED): "run_at has come: the schedule step (or an idle worker) promotes it",
    (S.SCHEDULED, S.RUNNING): "a worker claimed it and holds a lease",
    (S.RUNNING, S.SUCCESS): "the handler returned; the result is stored",
    (S.RUNNING, S.FAILED): "the handler failed and attempts remain: waits for its backoff",
    (S.RUNNING, S.DLQ): "failed permanently, or the last attempt failed",
    (S.RUNNING, S.SCHEDULED): "lease expired (worker died), or claimed but released unstarted",
    (S.FAILED, S.SCHEDULED): "its retry time has come, or an operator retried it",
    (S.DLQ, S.SCHEDULED): "an operator retried it by hand",
    (S.CREATED, S.CANCELLED): "an operator cancelled it before it was due, or its deadline passed",
    (S.SCHEDULED, S.CANCELLED): "cancelled before a worker started it, or its deadline passed",
    (S.FAILED, S.CANCELLED): "cancelled while it waited for a retry, or its deadline passed",
    (S.RUNNING, S.CANCELLED): "the attempt failed and its retry would start past the deadline",
    (S.DLQ, S.CANCELLED): "an operator dismissed it from the DLQ: it will not be retried",
}

TERMINAL: frozenset[Status] = frozenset({S.SUCCESS, S.DLQ, S.CANCELLED})


class Outcome(StrEnum):
    """How an attempt ended; job_attempts.outcome stores these values."""

    SUCCESS = "success"
    ERROR = "error"  # the handler failed: retried after its backoff while attempts remain
    PERMANENT_ERROR = "permanent_error"  # retrying cannot help: dead-lettered at once
    TIMEOUT = "timeout"  # ran past its type's timeout or its tick's budget: retried like an error
    LEASE_EXPIRED = "lease_expired"  # the worker stopped (crashed, was killed) mid-attempt


def sources_of(target: Status) -> frozenset[Status]:
    """The statuses from which a job may move to ``target``."""
    return frozenset(src for src, dst in TRANSITIONS if dst == target)


def check_transition(sources: frozenset[Status] | Status, target: Status) -> None:
    """Raise IllegalTransition unless every ``source -> target`` edge is in TRANSITIONS."""
    for source in {sources} if isinstance(sources, Status) else sources:
        if (source, target) not in TRANSITIONS:
            raise IllegalTransition(f"{source} -> {target} is not an allowed transition")
