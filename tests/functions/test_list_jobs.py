"""list_jobs: GET /jobs (filtered, newest first, keyset pages) and GET /jobs/<id>."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import Engine

from common.states import Status
from tests.factories import make_job, make_jobs
from tests.functions.client import DOCUMENT, Functions, error_of, submit


def page(functions: Functions, **query: Any) -> dict[str, Any]:
    response = functions.list_jobs.get("/jobs", query=query)
    assert response.status_code == 200, response.text
    return dict(response.get_json())


def test_jobs_are_listed_newest_first_and_the_last_page_has_no_cursor(
    functions: Functions,
) -> None:
    ids = [submit(functions, type="noop")["id"] for _ in range(3)]

    answer = page(functions)

    assert [job["id"] for job in answer["jobs"]] == ids[::-1]
    assert answer["next_cursor"] is None
    one = functions.list_jobs.get(f"/jobs/{ids[-1]}").get_json()
    assert answer["jobs"][0] == {name: one[name] for name in one if name != "attempt_history"}


def test_walking_every_page_yields_every_job_exactly_once(
    functions: Functions, engine: Engine
) -> None:
    created = make_jobs(engine, 23, Status.CREATED)
    seen: list[int] = []
    cursor: str | None = None
    pages = 0
    while True:
        answer = page(functions, limit="5", **({"cursor": cursor} if cursor else {}))
        seen += [job["id"] for job in answer["jobs"]]
        pages += 1
        cursor = answer["next_cursor"]
        if cursor is None:
            break
        assert isinstance(cursor, str)

    assert pages == 5
    assert seen == sorted(created, reverse=True)


def test_a_full_last_page_is_followed_by_no_cursor(functions: Functions, engine: Engine) -> None:
    make_jobs(engine, 4, Status.CREATED)

    first = page(functions, limit="2")
    second = page(functions, limit="2", cursor=first["next_cursor"])

    assert len(second["jobs"]) == 2
    assert second["next_cursor"] is None


def test_the_default_page_has_50_jobs(functions: Functions, engine: Engine) -> None:
    make_jobs(engine, 51, Status.CREATED)

    answer = page(functions)

    assert len(answer["jobs"]) == 50
    assert answer["next_cursor"] is not None


def test_jobs_are_filtered_by_status_type_and_queue(functions: Functions, engine: Engine) -> None:
    failed_sleep = make_job(engine, Status.FAILED, type="sleep", queue="slow")
    failed_noop = make_job(engine, Status.FAILED, type="noop", queue="slow")
    dlq_sleep = make_job(engine, Status.DLQ, type="sleep", queue="fast")

    def ids(**query: str) -> set[int]:
        return {job["id"] for job in page(functions, **query)["jobs"]}

    assert ids(status="FAILED") == {failed_sleep, failed_noop}
    assert ids(status="failed") == {failed_sleep, failed_noop}
    assert ids(type="sleep") == {failed_sleep, dlq_sleep}
    assert ids(queue="fast") == {dlq_sleep}
    assert ids(status="FAILED", type="sleep", queue="slow") == {failed_sleep}
    assert ids(status="SUCCESS") == set()
    assert ids(status="", type="", queue="") == {failed_sleep, failed_noop, dlq_sleep}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"status": "DONE"}, "status"),
        ({"limit": "0"}, "limit"),
        ({"limit": "501"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"limit": "1.5"}, "limit"),
        ({"cursor": "abc"}, "cursor"),
        ({"cursor": "0"}, "cursor"),
        ({"cursor": str(2**63)}, "cursor"),
    ],
    ids=lambda value: json.dumps(value) if isinstance(value, dict) else value,
)
def test_an_invalid_list_parameter_is_refused_with_400_naming_it(
    functions: Functions, query: dict[str, str], field: str
) -> None:
    response = functions.list_jobs.get("/jobs", query=query)

    assert response.status_code == 400
    assert error_of(response)["field"] == field


@pytest.mark.parametrize("cursor", ["abc", "0", "+5", str(2**63)])
def test_a_cursor_not_given_out_is_refused_without_telling_what_it_holds(
    functions: Functions, cursor: str
) -> None:
    response = functions.list_jobs.get("/jobs", query={"cursor": cursor})

    assert response.status_code == 400
    assert error_of(response)["field"] == "cursor"
    assert "next_cursor" in error_of(response)["message"]
    assert "integer" not in error_of(response)["message"]


@pytest.mark.parametrize(
    ("path", "query", "field"),
    [
        ("/jobs", {"foo": "1"}, "foo"),
        ("/jobs", {"status": "FAILED", "Limit": "5"}, "Limit"),
        ("/jobs/1", {"status": "FAILED"}, "status"),
        ("/openapi.json", {"v": "2"}, "v"),
    ],
)
def test_an_unknown_query_parameter_is_refused_with_400_naming_it(
    functions: Functions, engine: Engine, path: str, query: dict[str, str], field: str
) -> None:
    make_job(engine, Status.CREATED)

    response = functions.list_jobs.get(path, query=query)

    assert response.status_code == 400
    assert error_of(response)["code"] == "invalid"
    assert error_of(response)["field"] == field
    assert repr(field) in error_of(response)["message"]


@pytest.mark.parametrize("path", ["/jobs", "/jobs/999999", "/jobs/abc", "/openapi.json"])
def test_every_answer_ends_with_a_newline(functions: Functions, path: str) -> None:
    response = functions.list_jobs.get(path)

    assert response.data.endswith(b"}\n")


def test_limit_accepts_1_to_500(functions: Functions, engine: Engine) -> None:
    make_jobs(engine, 2, Status.CREATED)

    assert len(page(functions, limit="1")["jobs"]) == 1
    assert len(page(functions, limit="500")["jobs"]) == 2


def test_one_job_is_answered_with_its_attempt_history(functions: Functions, engine: Engine) -> None:
    job = submit(functions, type="noop", queue="q", priority=3)

    response = functions.list_jobs.get(f"/jobs/{job['id']}")

    assert response.status_code == 200
    assert response.get_json() == {**job, "attempt_history": []}


def test_an_unknown_job_is_answered_with_404(functions: Functions) -> None:
    response = functions.list_jobs.get("/jobs/999999")

    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"
    assert error_of(response)["field"] == "job_id"


@pytest.mark.parametrize("raw_id", ["abc", "0", "-1", "1.5", "+1", "1_0", str(2**63)])
def test_a_job_id_that_is_no_positive_integer_is_refused_with_400(
    functions: Functions, raw_id: str
) -> None:
    response = functions.list_jobs.get(f"/jobs/{raw_id}")

    assert response.status_code == 400
    assert error_of(response)["field"] == "job_id"


@pytest.mark.parametrize("path", ["/", "/jobs/1/attempts", "/nothing"])
def test_a_path_list_jobs_does_not_serve_is_answered_with_404(
    functions: Functions, path: str
) -> None:
    response = functions.list_jobs.get(path)

    assert response.status_code == 404
    assert error_of(response)["field"] == "path"


@pytest.mark.parametrize("path", ["/jobs", "/jobs/1", "/openapi.json"])
def test_list_jobs_refuses_post_with_405(functions: Functions, path: str) -> None:
    response = functions.list_jobs.post(path, json={})

    assert response.status_code == 405
    assert error_of(response)["field"] == "method"


def test_the_api_document_is_served_at_openapi_json(functions: Functions) -> None:
    response = functions.list_jobs.get("/openapi.json")

    assert response.status_code == 200
    assert response.get_json() == json.loads(DOCUMENT.read_text())
