"""The HTTP side of recurring schedules, deadlines and callbacks: GET /recurring, the schedule
tick with RECURRING_FILE, and the new fields of POST /jobs (each answer checked against the
OpenAPI document by the client)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.functions.client import Configure, Functions, error_of, submit

EVERY_MINUTE = '[[recurring]]\nname = "minutely"\ncron = "* * * * *"\ntype = "noop"\n'


def test_the_schedule_tick_enqueues_a_recurring_slot_once_and_the_job_knows_its_slot(
    functions: Functions, configure: Configure, db_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "recurring.toml"
    path.write_text(EVERY_MINUTE)
    configure(DATABASE_URL=db_url, WORKER_POLL_SECONDS="60", RECURRING_FILE=str(path))

    first = functions.schedule_tick.post("/ticks/schedule", json={"budget_seconds": 2}).get_json()
    again = functions.schedule_tick.post("/ticks/schedule", json={"budget_seconds": 2}).get_json()
    listed = functions.list_jobs.get("/recurring").get_json()["recurring"]

    assert first["recurring_enqueued"] == 1
    assert again["recurring_enqueued"] in (0, 1)  # 1 only if a new minute began in between
    assert functions.list_jobs.get("/jobs").get_json()["jobs"][-1]["recurring"] is not None
    (schedule,) = listed
    assert (schedule["name"], schedule["cron"], schedule["timezone"], schedule["type"]) == (
        "minutely",
        "* * * * *",
        "UTC",
        "noop",
    )
    assert schedule["next_slot"] > schedule["last_slot"]
    job = functions.list_jobs.get(f"/jobs/{schedule['last_job_id']}").get_json()
    assert job["recurring"] == {"name": "minutely", "slot_time": schedule["last_slot"]}
    assert job["status"] == schedule["last_job_status"] == "SCHEDULED"  # promoted by the tick


def test_a_bad_recurring_file_stops_the_schedule_tick_and_the_listing_naming_table_and_field(
    functions: Functions, configure: Configure, db_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "recurring.toml"
    path.write_text(EVERY_MINUTE.replace("* * * * *", "* * *"))
    configure(DATABASE_URL=db_url, RECURRING_FILE=str(path))

    for response in (
        functions.schedule_tick.post("/ticks/schedule", json={"budget_seconds": 1}),
        functions.list_jobs.get("/recurring"),
    ):
        assert response.status_code == 503
        error = error_of(response)
        assert error["code"] == "misconfigured"
        assert "recurring[1] ('minutely').cron: must have five fields" in error["message"]
        assert error["field"] == "recurring[1].cron"


def test_without_a_recurring_file_the_listing_is_empty(functions: Functions) -> None:
    response = functions.list_jobs.get("/recurring")
    assert (response.status_code, response.get_json()) == (200, {"recurring": []})


def test_a_job_takes_a_deadline_as_a_time_or_as_seconds(functions: Functions) -> None:
    given = submit(functions, type="noop", not_after="2031-01-01T10:00:00+01:00")
    counted = submit(functions, type="noop", expires_in_seconds=30)
    assert given["not_after"] == "2031-01-01T09:00:00Z"
    assert counted["not_after"] > counted["created_at"]
    assert submit(functions, type="noop")["not_after"] is None


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"not_after": "tomorrow"}, "not_after"),
        ({"not_after": "2031-01-01T10:00:00"}, "not_after"),  # no offset
        ({"expires_in_seconds": 0}, "expires_in_seconds"),
        ({"expires_in_seconds": "soon"}, "expires_in_seconds"),
        ({"not_after": "2031-01-01T10:00:00Z", "expires_in_seconds": 5}, "not_after"),
        ({"not_after": "2031-01-01T10:00:00Z", "run_at": "2031-01-02T10:00:00Z"}, "not_after"),
        ({"expires_in_seconds": 5, "delay_seconds": 10}, "expires_in_seconds"),
        ({"callback_url": "ftp://example.com/x"}, "callback_url"),
        ({"callback_url": "not a url"}, "callback_url"),
    ],
)
def test_a_bad_deadline_or_callback_is_a_400_naming_the_field(
    functions: Functions, configure: Configure, db_url: str, fields: dict, field: str
) -> None:
    configure(DATABASE_URL=db_url, WEBHOOK_SECRET="s")
    response = functions.submit_job.post("/jobs", json={"type": "noop", **fields})
    assert response.status_code == 400, response.text
    assert error_of(response)["field"] == field


def test_webhook_jobs_cannot_be_submitted_by_hand(functions: Functions) -> None:
    payload = {"url": "http://example.com", "event": {"status": "SUCCESS"}}
    response = functions.submit_job.post("/jobs", json={"type": "webhook", "payload": payload})
    assert response.status_code == 400
    assert error_of(response)["field"] == "type"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/hook",
        "http://localhost/hook",
        "http://10.1.2.3/hook",
        "http://169.254.169.254/latest/meta-data",  # the cloud metadata service
        "http://[::1]/hook",
        "http://[::ffff:192.168.0.1]/hook",
    ],
)
def test_a_callback_to_a_private_address_is_refused_without_the_allow_setting(
    functions: Functions, configure: Configure, db_url: str, url: str
) -> None:
    configure(DATABASE_URL=db_url, WEBHOOK_SECRET="s")
    refused = functions.submit_job.post("/jobs", json={"type": "noop", "callback_url": url})
    assert refused.status_code == 400
    assert error_of(refused)["field"] == "callback_url"
    assert "WEBHOOK_ALLOW_PRIVATE" in error_of(refused)["message"]

    configure(DATABASE_URL=db_url, WEBHOOK_SECRET="s", WEBHOOK_ALLOW_PRIVATE="true")
    assert submit(functions, type="noop", callback_url=url)["callback_url"] == url


def test_a_callback_without_a_webhook_secret_is_a_503_saying_so(functions: Functions) -> None:
    response = functions.submit_job.post(
        "/jobs", json={"type": "noop", "callback_url": "http://127.0.0.1/hook"}
    )
    assert response.status_code == 503
    assert "WEBHOOK_SECRET" in error_of(response)["message"]
