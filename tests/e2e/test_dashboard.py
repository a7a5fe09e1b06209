"""The dashboard in a real browser: Debian's chromium, headless, driven by Selenium, on the local
stack started as the README says (MariaDB, API_TOKEN set, LOG_FORMAT=json). The last test stops
the stack and reads every line it printed as JSON.

Screenshots of each page go to $SKIPLOCK_SCREENSHOTS (docs/ makes the README's), else a temp dir.
"""

from __future__ import annotations

import json
import os
import shutil
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select, WebDriverWait
from sqlalchemy import Engine, select

from common.db import make_engine
from common.fingerprint import fingerprint
from common.models import queue_settings
from common.states import Status
from tests.e2e.stack import LocalStack, stack_on_empty_mariadb
from tests.factories import make_jobs, statuses

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
XSS = "<script>document.title='pwned'</script><img src=x onerror=\"document.title='pwned'\">"
S = Status


@pytest.fixture(scope="module")
def stack(database_urls: dict[str, str]) -> Iterator[LocalStack]:
    env = {"LOG_FORMAT": "json", "MAX_ATTEMPTS": "1"}
    with stack_on_empty_mariadb(database_urls["mariadb"], env, args=("--no-cron",)) as stack:
        yield stack


@pytest.fixture(scope="module")
def engine(stack: LocalStack, database_urls: dict[str, str]) -> Iterator[Engine]:
    engine = make_engine(database_urls["mariadb"])
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def browser(stack: LocalStack) -> Iterator[WebDriver]:
    if not (CHROMIUM and CHROMEDRIVER):
        message = "chromium and chromedriver are needed: ./tests/install_browser.sh"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    options = Options()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(argument)
    options.add_argument("--window-size=1280,1000")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.implicitly_wait(5)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    chosen = os.environ.get("SKIPLOCK_SCREENSHOTS")
    return Path(chosen) if chosen else tmp_path_factory.mktemp("screenshots")


def now_present(browser: WebDriver, by: str, value: str) -> list[Any]:
    """The elements on the page as it is, without the implicit wait for them to appear (the
    pages are rendered by the server: once loaded, nothing comes later)."""
    browser.implicitly_wait(0)
    try:
        return list(browser.find_elements(by, value))
    finally:
        browser.implicitly_wait(5)


def follow(browser: WebDriver, by: str, value: str) -> None:
    """Click a link or button, and wait until the next page has replaced this one."""
    page = browser.find_element(By.TAG_NAME, "html")
    browser.find_element(by, value).click()
    wait_until_replaced(browser, page)


def wait_until_replaced(browser: WebDriver, page: WebElement) -> None:
    """Wait until ``page`` (the old page's root element) is gone: the next page has loaded."""

    def gone(_: WebDriver) -> bool:
        try:
            page.is_enabled()
        except StaleElementReferenceException:
            return True
        except WebDriverException as exc:
            # Asked mid-navigation, chromedriver may say the node left the document instead.
            if "does not belong to the document" in (exc.msg or ""):
                return True
            raise
        return False

    WebDriverWait(browser, 15).until(gone)


def open_page(browser: WebDriver, stack: LocalStack, path: str) -> None:
    browser.get(stack.base_url + path)


def log_in(browser: WebDriver, stack: LocalStack) -> None:
    open_page(browser, stack, "/dashboard/login")
    if now_present(browser, By.ID, "token"):
        browser.find_element(By.ID, "token").send_keys(stack.token)
        follow(browser, By.ID, "login")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Overview"


def submit(stack: LocalStack, **job: Any) -> int:
    status, answer = stack.call("POST", "/jobs", job)
    assert status == 201, answer
    return int(answer["id"])


def run_jobs(stack: LocalStack, count: int, queue: str) -> None:
    """Run ``count`` jobs of ``queue`` (the jobs other tests left due stay as they are)."""
    assert stack.call("POST", "/ticks/schedule")[0] == 200
    body = {"budget_seconds": 20, "max_jobs": count, "queues": [queue]}
    status, summary = stack.call("POST", "/ticks/work", body)
    assert status == 200 and summary["claimed"] == count, summary


def raw_request(stack: LocalStack, method: str, path: str, data: bytes | None = None) -> int:
    """A request without any session or token, as another site or a script would send it."""
    request = urllib.request.Request(stack.base_url + path, data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_without_a_session_every_page_asks_for_the_token_and_nothing_changes(
    stack: LocalStack, engine: Engine
) -> None:
    [dead] = make_jobs(engine, 1, S.DLQ, queue="nosession")
    for path in ("/dashboard", "/dashboard/jobs", f"/dashboard/jobs/{dead}", "/dashboard/dlq"):
        assert raw_request(stack, "GET", path) == 401, path
    form = f"action=retry&ids={dead}&csrf=guess".encode()
    assert raw_request(stack, "POST", "/dashboard/actions", form) in (401, 403)
    assert statuses(engine)[dead] == S.DLQ


def test_log_in_once_then_the_session_cookie_is_httponly_and_strict(
    browser: WebDriver, stack: LocalStack, shots: Path
) -> None:
    open_page(browser, stack, "/dashboard")
    assert browser.find_element(By.ID, "token")  # the login form, for an unknown visitor
    browser.find_element(By.ID, "token").send_keys("not-the-token")
    follow(browser, By.ID, "login")
    assert "not the API token" in browser.find_element(By.ID, "login-error").text
    browser.save_screenshot(str(shots / "dashboard-login.png"))

    log_in(browser, stack)

    cookie = browser.get_cookie("skiplock_session")
    assert cookie and cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert browser.execute_script("return document.cookie") == ""  # no script can read it


def test_the_overview_counts_the_jobs_created(
    browser: WebDriver, stack: LocalStack, shots: Path
) -> None:
    for _ in range(3):
        submit(stack, type="noop", queue="overview")
    submit(stack, type="fail", queue="overview", payload={"times": 1, "message": "down 7 s"})
    submit(stack, type="noop", queue="overview", delay_seconds=3600)
    run_jobs(stack, 4, "overview")

    log_in(browser, stack)
    row = browser.find_element(By.CSS_SELECTOR, 'tr[data-queue="overview"]')

    def cell(selector: str) -> str:
        return str(row.find_element(By.CSS_SELECTOR, selector).text)

    assert cell('td[data-status="SUCCESS"]') == "3"
    assert cell('td[data-status="DLQ"]') == "1"
    assert cell('td[data-status="CREATED"]') == "1"
    assert (cell('td[data-field="succeeded"]'), cell('td[data-field="dead-lettered"]')) == (
        "3",
        "1",
    )
    bars = browser.find_elements(By.CSS_SELECTOR, "#throughput rect.succeeded")
    assert bars, "the throughput chart draws the last minutes' attempts"
    browser.save_screenshot(str(shots / "dashboard-overview.png"))


def test_filter_and_page_the_job_list_then_open_a_job(
    browser: WebDriver, stack: LocalStack, engine: Engine, shots: Path
) -> None:
    ids = make_jobs(engine, 60, S.SUCCESS, queue="paged", type="pdf")
    make_jobs(engine, 5, S.FAILED, queue="paged", type="pdf")
    log_in(browser, stack)
    open_page(browser, stack, "/dashboard/jobs")
    browser.find_element(By.NAME, "queue").send_keys("paged")
    Select(browser.find_element(By.NAME, "status")).select_by_value("SUCCESS")
    follow(browser, By.ID, "apply")

    def shown() -> list[int]:
        rows = browser.find_elements(By.CSS_SELECTOR, "#jobs tbody tr[data-id]")
        return [int(str(row.get_attribute("data-id"))) for row in rows]

    first = shown()
    assert first == sorted(ids, reverse=True)[:50]
    browser.save_screenshot(str(shots / "dashboard-jobs.png"))
    follow(browser, By.ID, "older")
    assert shown() == sorted(ids, reverse=True)[50:]
    assert not now_present(browser, By.ID, "older")
    follow(browser, By.ID, "newer")
    assert shown() == first

    follow(browser, By.LINK_TEXT, str(first[0]))
    assert browser.find_element(By.ID, "status").text == "SUCCESS"
    assert json.loads(browser.find_element(By.ID, "result").text) == {"ok": True}
    assert not now_present(browser, By.ID, "retry")  # a finished job has no action


def test_a_job_page_shows_the_attempts_and_retries_through_the_guarded_operation(
    browser: WebDriver, stack: LocalStack, engine: Engine, shots: Path
) -> None:
    job_id = submit(stack, type="fail", queue="one", payload={"times": 1, "message": "no disk"})
    run_jobs(stack, 1, "one")
    log_in(browser, stack)
    open_page(browser, stack, f"/dashboard/jobs/{job_id}")
    attempts = browser.find_elements(By.CSS_SELECTOR, "#attempts tbody tr")
    assert len(attempts) == 1 and "JobError: no disk" in attempts[0].text
    assert browser.find_element(By.ID, "status").text == "DLQ"
    browser.save_screenshot(str(shots / "dashboard-job.png"))

    follow(browser, By.ID, "retry")

    assert browser.find_element(By.ID, "notice").text == "retried 1 job"
    assert browser.find_element(By.ID, "status").text == "SCHEDULED"
    assert statuses(engine)[job_id] == S.SCHEDULED


def test_retry_a_dlq_group_by_its_fingerprint(
    browser: WebDriver, stack: LocalStack, engine: Engine, shots: Path
) -> None:
    group = fingerprint("email", "SMTP 451 for <email>")
    alike = make_jobs(
        engine, 4, S.DLQ, type="email", last_error="SMTP 451 for a@b.org", error_fingerprint=group
    )
    other = make_jobs(engine, 2, S.DLQ, type="pdf", last_error="x", error_fingerprint="f" * 16)
    log_in(browser, stack)
    open_page(browser, stack, "/dashboard/dlq")
    row = browser.find_element(By.ID, group)
    assert row.find_element(By.CSS_SELECTOR, 'td[data-field="count"]').text == "4"
    assert "SMTP <n> for <email>" in row.text
    browser.save_screenshot(str(shots / "dashboard-dlq.png"))

    page = browser.find_element(By.TAG_NAME, "html")
    row.find_element(By.CSS_SELECTOR, 'button[data-action="retry"]').click()
    wait_until_replaced(browser, page)

    assert browser.find_element(By.ID, "notice").text == "retried 4 jobs"
    assert not now_present(browser, By.ID, group)
    after = statuses(engine)
    assert {after[i] for i in alike} == {S.SCHEDULED} and {after[i] for i in other} == {S.DLQ}


def test_pause_and_resume_a_queue_from_the_overview(
    browser: WebDriver, stack: LocalStack, engine: Engine
) -> None:
    submit(stack, type="noop", queue="ctl")
    log_in(browser, stack)
    open_page(browser, stack, "/dashboard")
    row = 'tr[data-queue="ctl"]'

    follow(browser, By.CSS_SELECTOR, f'{row} button[data-action="pause"]')
    assert browser.find_element(By.ID, "notice").text == "paused queue ctl"
    assert browser.find_element(By.CSS_SELECTOR, f'{row} [data-field="paused"]').text == "paused"
    assert _paused(engine, "ctl") is True
    status, summary = stack.call("POST", "/ticks/work", {"budget_seconds": 1, "queues": ["ctl"]})
    assert (status, summary["claimed"]) == (200, 0)  # a paused queue is not claimed

    follow(browser, By.CSS_SELECTOR, f'{row} button[data-action="resume"]')
    assert browser.find_element(By.ID, "notice").text == "resumed queue ctl"
    assert not now_present(browser, By.CSS_SELECTOR, f'{row} [data-field="paused"]')
    assert _paused(engine, "ctl") is False


def _paused(engine: Engine, queue: str) -> bool:
    with engine.connect() as conn:
        found = select(queue_settings.c.paused).where(queue_settings.c.queue == queue)
        return bool(conn.execute(found).scalar_one())


def test_a_script_in_a_payload_or_an_error_is_shown_never_run(
    browser: WebDriver, stack: LocalStack
) -> None:
    job_id = submit(stack, type="fail", queue="xss", payload={"times": 1, "message": XSS})
    run_jobs(stack, 1, "xss")
    log_in(browser, stack)
    for path in (f"/dashboard/jobs/{job_id}", "/dashboard/dlq", "/dashboard/jobs?queue=xss"):
        open_page(browser, stack, path)
        assert browser.title != "pwned", path
        assert not now_present(browser, By.CSS_SELECTOR, "main script, main img"), path
    open_page(browser, stack, f"/dashboard/jobs/{job_id}")
    assert json.loads(browser.find_element(By.ID, "payload").text)["message"] == XSS
    assert XSS in browser.find_element(By.ID, "last-error").text


def test_a_forged_action_from_another_page_changes_nothing(
    browser: WebDriver, stack: LocalStack, engine: Engine
) -> None:
    [dead] = make_jobs(engine, 1, S.DLQ, queue="forged")
    log_in(browser, stack)
    form = f"action=retry&ids={dead}&csrf=guess".encode()
    assert raw_request(stack, "POST", "/dashboard/actions", form) in (401, 403)
    # In the logged-in browser, a form without the page's CSRF token is refused too.
    script = (
        "const f = document.createElement('form'); f.method = 'post';"
        "f.action = '/dashboard/actions';"
        "for (const [k, v] of Object.entries(arguments[0])) {"
        "  const i = document.createElement('input'); i.name = k; i.value = v; f.append(i); }"
        "document.body.append(f); f.submit();"
    )
    page = browser.find_element(By.TAG_NAME, "html")
    browser.execute_script(script, {"action": "retry", "ids": str(dead), "csrf": "guess"})
    wait_until_replaced(browser, page)
    assert "403" in browser.find_element(By.TAG_NAME, "h1").text
    assert statuses(engine)[dead] == S.DLQ


def test_a_pdf_links_to_its_object_and_an_email_shows_its_message_id(
    browser: WebDriver, stack: LocalStack
) -> None:
    pdf = submit(stack, type="pdf", queue="outputs", payload={"title": "Invoice 42"})
    mail = {"to": ["ada@example.com"], "subject": "Paid", "text": "Thanks"}
    email = submit(stack, type="email", queue="outputs", payload=mail)
    run_jobs(stack, 2, "outputs")
    log_in(browser, stack)

    open_page(browser, stack, f"/dashboard/jobs/{pdf}")
    link = browser.find_element(By.ID, "output-link")
    assert link.text == f"s3://skiplock-local/pdf/{pdf}.pdf"
    with urllib.request.urlopen(str(link.get_attribute("href")), timeout=30) as answer:
        assert answer.read().startswith(b"%PDF")  # the presigned URL needs no credentials

    open_page(browser, stack, f"/dashboard/jobs/{email}")
    message_id = browser.find_element(By.ID, "message-id").text
    with urllib.request.urlopen(stack.moto_url + "/moto-api/data.json", timeout=30) as answer:
        assert message_id in answer.read().decode()  # the email moto "sent"


def test_every_line_the_stack_printed_is_json_and_holds_no_token_or_payload(
    stack: LocalStack,
) -> None:
    job_id = submit(stack, type="noop", queue="logs", payload={"secret_note": "do-not-log-me"})
    run_jobs(stack, 1, "logs")
    output = stack.stop()

    lines = []
    for line in output.splitlines():
        try:
            lines.append(json.loads(line))
        except ValueError:
            pytest.fail(f"not a JSON line: {line!r}")
    assert all({"time", "severity", "message", "logger"} <= set(line) for line in lines)
    assert all(line["time"].endswith("Z") for line in lines)
    assert {line["severity"] for line in lines} <= {"DEBUG", "INFO", "WARNING", "ERROR"}
    mine = [line for line in lines if line.get("job_id") == job_id]
    assert [(line["from_status"], line["to_status"]) for line in mine] == [
        ("CREATED", "SCHEDULED"),
        ("SCHEDULED", "RUNNING"),
        ("RUNNING", "SUCCESS"),
    ]
    done = mine[-1]
    assert (done["queue"], done["type"], done["attempt"], done["outcome"]) == (
        "logs",
        "noop",
        1,
        "success",
    )
    assert done["duration_ms"] >= 0 and done["worker_id"]
    requests = [line["httpRequest"] for line in lines if "httpRequest" in line]
    assert {"requestMethod", "requestUrl", "status", "latency"} <= set(requests[0])
    urls = [r["requestUrl"] for r in requests]
    assert any(url.endswith("/dashboard/jobs?queue=xss") for url in urls), urls
    assert stack.token not in output and "do-not-log-me" not in output
