"""The web app in a real headless browser: Debian's chromium driven by playwright, the app served
by uvicorn in a thread on 127.0.0.1. The gradebook is the demo class as grade 0.2.0 stored it
(tests/fixtures/gradebooks), plus one hostile student and a TA's account.

Screenshots go to $GRADER_SCREENSHOTS or <tmp>/grade-report-screenshots/ (web-*.png).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from grader import models as m
from grader.reports.text import student_page
from grader.store.gradebook import Gradebook
from grader.web.app import create_app
from grader.web.server import running
from tests.browser.test_reports_browser import CHROMIUM, IMG, SCRIPT, screenshots
from tests.factories import make_grade, make_test_result

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium: apt-get install chromium"),
]
DEMO = Path(__file__).parents[1] / "fixtures" / "gradebooks" / "demo-class-0.2.0.db"
HOSTILE = "mallory_hostile"
PASSWORD = "correct horse battery"
ALERT = "<img src=x onerror=\"alert('pwned')\">"


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    db = tmp_path_factory.mktemp("web") / "grade.db"
    shutil.copyfile(DEMO, db)
    output = f"{SCRIPT}\n{IMG}\n{ALERT}\nAll tests passed!\n"
    with Gradebook(db) as book:
        run = book.start_run({})
        failed = make_test_result("test_mask", "failed", max_points=3.0, message=f"weight 0.25 {IMG} {SCRIPT}")
        book.record(run, make_grade(HOSTILE, "05_attention_mechanism", tests=(make_test_result("test_scores"), failed),
                                    message=ALERT, execution=m.Execution(m.Status.GRADED, output_excerpt=output)))
        book.finish_run(run)
        book.accounts.add_user("tara", "ta", PASSWORD)
    with running(create_app(str(db), secure_cookies=False, trust_proxy_header=None)) as url:
        yield url


@pytest.fixture(scope="module")
def browser():  # type: ignore[no-untyped-def]
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        # --no-sandbox: chromium's own sandbox needs user namespaces a root container may lack.
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield browser
        browser.close()


def new_page(browser, problems: list[str]):  # type: ignore[no-untyped-def]
    """A page in a fresh context (its own cookies), recording console errors, page errors and dialogs."""
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    page.on("console", lambda msg: problems.append(f"console {msg.type}: {msg.text}")
            if msg.type in ("error", "warning") else None)
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("dialog", lambda dialog: (problems.append(f"dialog: {dialog.message}"), dialog.dismiss()))
    return page


def log_in(page, base_url: str, path: str = "/") -> None:  # type: ignore[no-untyped-def]
    page.goto(base_url + path)
    assert page.url.startswith(base_url + "/login?next=")
    page.fill("#username", "tara")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(base_url + path)


def test_log_in_through_the_form(browser, base_url: str) -> None:  # type: ignore[no-untyped-def]
    problems: list[str] = []
    page = new_page(browser, problems)
    try:
        page.goto(base_url + "/")
        assert page.url == base_url + "/login?next=%2F"
        assert page.locator("h1").inner_text() == "Log in"
        # the report's stylesheet applies to the login page too
        assert page.evaluate("getComputedStyle(document.body).maxWidth") == "1152px"
        page.screenshot(path=str(screenshots() / "web-login.png"))

        page.fill("#username", "tara")
        page.fill("#password", "not the password")
        page.click("button[type=submit]")
        assert page.locator("p.error").inner_text() == "wrong username or password"
        assert page.input_value("#username") == "tara" and page.input_value("#password") == ""

        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(base_url + "/")
        assert "Logged in as tara (ta)" in page.locator("header .session").inner_text()
        assert page.locator("table.grades tbody tr").count() == 28  # the demo's 27 students and one more
        # the pass-rate bars keep their widths: inline style attributes survive the app's policy
        assert page.evaluate("Math.max(...[...document.querySelectorAll('.bar .fill')].map(e => e.offsetWidth))") > 0
        page.screenshot(path=str(screenshots() / "web-overview.png"))
        page.click(f"text={HOSTILE}")
        page.wait_for_url(base_url + "/" + student_page(HOSTILE))
        assert page.locator("h1").inner_text() == HOSTILE
        assert problems == []
    finally:
        page.context.close()


def test_an_anonymous_visit_to_a_student_page_shows_no_name(browser, base_url: str) -> None:  # type: ignore[no-untyped-def]
    problems: list[str] = []
    page = new_page(browser, problems)
    try:
        for student in ("lea_finetuned", HOSTILE):
            response = page.goto(base_url + "/" + student_page(student))
            assert response is not None and response.status == 200  # the login form, after the 303
            assert page.url.startswith(base_url + "/login?next=%2Fstudents%2F")
            assert student not in page.locator("body").inner_text()
            # The one place the page holds it is the address the visitor typed, kept to come back to.
            assert student not in page.content().replace("/" + student_page(student), "")
        assert problems == []
    finally:
        page.context.close()


def test_hostile_student_text_stays_inert(browser, base_url: str) -> None:  # type: ignore[no-untyped-def]
    problems: list[str] = []
    page = new_page(browser, problems)
    try:
        log_in(page, base_url, "/" + student_page(HOSTILE))
        assert page.evaluate("window.__pwned") is None
        assert page.locator("main img").count() == 0 and page.locator("script").count() == 0
        output = page.locator("pre.output").inner_text()
        assert SCRIPT in output and IMG in output and ALERT in output  # shown to the TA, as text
        assert ALERT in page.locator("p.message").first.inner_text()
        assert IMG in page.locator("table.tests").inner_text()
        page.screenshot(path=str(screenshots() / "web-hostile-student.png"), full_page=True)
        assert problems == []  # no dialog, no console error, no blocked script
    finally:
        page.context.close()


def test_a_logged_out_session_cannot_be_replayed(browser, base_url: str) -> None:  # type: ignore[no-untyped-def]
    problems: list[str] = []
    page = new_page(browser, problems)
    try:
        log_in(page, base_url)
        saved = page.context.cookies()
        assert [c["name"] for c in saved if c["name"] == "grade_session"] == ["grade_session"]
        assert next(c for c in saved if c["name"] == "grade_session")["httpOnly"]
        page.click("text=Log out")
        page.wait_for_url(base_url + "/login")
        page.goto(base_url + "/")
        assert page.url.startswith(base_url + "/login")
        assert problems == []
    finally:
        page.context.close()

    replay = new_page(browser, problems)
    try:
        replay.context.add_cookies(saved)
        replay.goto(base_url + "/")
        assert replay.url == base_url + "/login?next=%2F"
        assert "lea_finetuned" not in replay.content()
    finally:
        replay.context.close()


def test_a_post_without_its_csrf_token_gets_403(browser, base_url: str) -> None:  # type: ignore[no-untyped-def]
    problems: list[str] = []
    page = new_page(browser, problems)
    try:
        # The login form without its token: the right password does not help.
        page.goto(base_url + "/login")
        page.evaluate("document.querySelector('input[name=csrf_token]').remove()")
        page.fill("#username", "tara")
        page.fill("#password", PASSWORD)
        with page.expect_response(base_url + "/login") as answer:
            page.click("button[type=submit]")
        assert answer.value.status == 403
        assert "grade_session" not in [c["name"] for c in page.context.cookies()]

        # Logged in, the logout form without its token (a cross-site form would have none).
        log_in(page, base_url)
        page.evaluate("document.querySelector('form.logout input[name=csrf_token]').value = 'forged'")
        with page.expect_response(base_url + "/logout") as answer:
            page.click("text=Log out")
        assert answer.value.status == 403
        assert page.context.request.post(base_url + "/logout", form={}).status == 403
        page.goto(base_url + "/")
        assert page.url == base_url + "/"  # still logged in: nothing changed
    finally:
        page.context.close()
