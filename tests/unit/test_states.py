"""The status table: seven statuses, the edges between them, and the check that guards them."""

from __future__ import annotations

import pytest

from common.errors import IllegalTransition
from common.states import TERMINAL, TRANSITIONS, Status, check_transition, sources_of

S = Status


def test_there_are_exactly_the_seven_statuses_of_the_design() -> None:
    assert {s.value for s in Status} == {
        "CREATED",
        "SCHEDULED",
        "RUNNING",
        "SUCCESS",
        "FAILED",
        "DLQ",
        "CANCELLED",
    }


def test_the_transition_table_holds_exactly_the_designed_edges() -> None:
    assert set(TRANSITIONS) == {
        (S.CREATED, S.SCHEDULED),
        (S.SCHEDULED, S.RUNNING),
        (S.RUNNING, S.SUCCESS),
        (S.RUNNING, S.FAILED),
        (S.RUNNING, S.DLQ),
        (S.RUNNING, S.SCHEDULED),
        (S.FAILED, S.SCHEDULED),
        (S.DLQ, S.SCHEDULED),
        (S.CREATED, S.CANCELLED),
        (S.SCHEDULED, S.CANCELLED),
        (S.FAILED, S.CANCELLED),
        (S.RUNNING, S.CANCELLED),  # a retry that would start past the job's deadline
        (S.DLQ, S.CANCELLED),
    }


def test_every_edge_says_why_it_exists() -> None:
    assert all(why.strip() for why in TRANSITIONS.values())


def test_no_status_moves_to_itself() -> None:
    assert all(src != dst for src, dst in TRANSITIONS)


def test_nothing_leads_back_to_created() -> None:
    assert sources_of(S.CREATED) == frozenset()


def test_success_and_cancelled_are_final_and_dlq_only_leaves_by_an_operator() -> None:
    assert {S.SUCCESS, S.DLQ, S.CANCELLED} == TERMINAL
    assert {dst for src, dst in TRANSITIONS if src in TERMINAL} == {S.SCHEDULED, S.CANCELLED}
    assert {src for src, dst in TRANSITIONS if src in TERMINAL} == {S.DLQ}


def test_only_a_claim_makes_a_job_running() -> None:
    assert sources_of(S.RUNNING) == {S.SCHEDULED}


def test_success_failed_and_dlq_are_reached_only_from_running() -> None:
    for target in (S.SUCCESS, S.FAILED, S.DLQ):
        assert sources_of(target) == {S.RUNNING}


@pytest.mark.parametrize("edge", sorted(TRANSITIONS), ids=lambda e: f"{e[0]}->{e[1]}")
def test_check_transition_allows_every_edge_of_the_table(edge: tuple[Status, Status]) -> None:
    check_transition(edge[0], edge[1])


@pytest.mark.parametrize(
    "edge",
    [(src, dst) for src in Status for dst in Status if (src, dst) not in TRANSITIONS],
    ids=lambda e: f"{e[0]}->{e[1]}",
)
def test_check_transition_refuses_every_pair_outside_the_table(
    edge: tuple[Status, Status],
) -> None:
    with pytest.raises(IllegalTransition, match=f"{edge[0]} -> {edge[1]}"):
        check_transition(edge[0], edge[1])


def test_check_transition_refuses_a_set_of_sources_if_any_one_is_not_allowed() -> None:
    check_transition(frozenset({S.FAILED, S.DLQ}), S.SCHEDULED)
    with pytest.raises(IllegalTransition, match="SUCCESS -> SCHEDULED"):
        check_transition(frozenset({S.FAILED, S.SUCCESS}), S.SCHEDULED)


def test_an_illegal_transition_is_a_conflict_for_http_clients() -> None:
    assert IllegalTransition.status == 409
