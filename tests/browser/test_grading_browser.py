"""Manual grading in a real headless browser (Debian's chromium, playwright): a TA grades a
written answer with rubric items and a comment and the export has it; two TAs save the same
answer and the second sees the conflict; a hostile answer stays inert; the keyboard shortcuts
apply items and save; a form without its token gets 403.

Screenshots go to $GRADER_SCREENSHOTS or <tmp>/grade-report-screenshots/ (web-grading.png,
web-queue.png, web-conflict.png).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from click.testing import CliRunner

from grader.cli import main
from grader.models import ManualPart, ManualResult, RubricItem
from grader.store.gradebook import Gradebook
from grader.web.app import create_app
from grader.web.server import running
from tests.browser.test_reports_browser import CHROMIUM, screenshots
from tests.browser.test_web_browser import PASSWORD, log_in, new_page
from tests.factories import make_grade, make_test_result

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium: apt-get install chromium"),
]
ASSIGNMENT = "05_attention_mechanism"
PART = ManualPart(
    name="Why scale by sqrt(d_k)?", answer="why_scale",
    items=(RubricItem("variance", 2, "Dot products of d_k-dim vectors have variance d_k"),
           RubricItem("saturation", 2, "Large logits saturate the softmax, gradients vanish"),
           RubricItem("vague", -1, "Vague: no argument given")),
    comments=("See the lecture's variance argument.", "Say why the gradients vanish."))
MASK = ManualPart(name="What does the causal mask prevent?", answer="why_mask",
                  items=(RubricItem("future", 2, "Position i must not attend to positions after i"),
                         RubricItem("leak", 1, "Otherwise training leaks the next token")))
REPORT = ManualPart(name="Report: fine-tuning and evaluation", answer="REPORT.md",
                    items=(RubricItem("setup", 2, "Says what was fine-tuned and how"),
                           RubricItem("evaluation", 3, "Held-out evaluation with a baseline"),
                           RubricItem("errors", 3, "An error analysis with examples")))
HOSTILE = ("I scale by **sqrt(d_k)**. <script>window.__pwned = 1</script>\n\n"
           "<img src=x onerror=\"window.__pwned = 2; alert('pwned')\">\n\n"
           "[click me](javascript:window.__pwned=3) and [the docs](https://pytorch.org/docs/stable/nn.html)")
GOOD = ("If the entries of $q$ and $k$ are independent with variance 1, their dot product has **variance "
        "$d_k$**. Without scaling, the logits grow like $\\sqrt{d_k}$ and the softmax saturates:\n\n"
        "- one weight is close to 1, the others close to 0;\n- its gradient vanishes, so training stalls.\n\n"
        "Dividing by `sqrt(d_k)` keeps the logits' variance at 1.")
STUDENTS = {
    "amara_okafor": GOOD, "ben_ito": "The scores get big.", "chloe_martin": GOOD.replace("saturates", "gets peaky"),
    "dmitri_volkov": HOSTILE, "elena_garcia": GOOD, "farid_haddad": None, "grace_lee": "Because the paper does it.",
    "hugo_lambert": GOOD, "isla_novak": "To keep the variance at 1 so the softmax does not saturate.",
}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    db = str(tmp_path_factory.mktemp("grading-web") / "grade.db")
    with Gradebook(db) as book:
        run = book.start_run({})
        for student, answer in STUDENTS.items():
            tests = (make_test_result("test_sdpa_matches_reference", max_points=4.0),
                     make_test_result("test_causal_mask", max_points=3.0))
            mask = None if answer is None else "Attending to future tokens, which would leak the answer."
            book.record(run, make_grade(student, ASSIGNMENT, tests=tests,
                                        manual=(ManualResult(PART, answer), ManualResult(MASK, mask))))
            report = f"# {student}'s report\n\nFine-tuned the classifier head for 3 epochs; accuracy 0.87 held out."
            book.record(run, make_grade(student, "homework", tests=(make_test_result("test_accuracy", max_points=10.0),),
                                        manual=(ManualResult(REPORT, report),)))
        book.finish_run(run)
        book.accounts.add_user("tara", "ta", PASSWORD)
        book.accounts.add_user("theo", "ta", PASSWORD)
    with running(create_app(db, secure_cookies=False, trust_proxy_header=None)) as url:
        yield url, db


@pytest.fixture(scope="module")
def browser():  # type: ignore[no-untyped-def]
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield browser
        browser.close()


def grading_path(student: str) -> str:
    return f"/grading/{ASSIGNMENT}/why_scale/{quote(student)}"


def log_in_as(page, base_url: str, user: str, path: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(base_url + path)
    page.fill("#username", user)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(base_url + path)


def export(db: str) -> dict[str, dict]:  # type: ignore[type-arg]
    result = CliRunner().invoke(main, ["export", "--db", db, "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    rows = rows if isinstance(rows, list) else rows.get("grades", rows)
    return {row["student"]: row for row in rows if row["assignment"] == ASSIGNMENT}


def test_a_ta_grades_an_answer_and_the_export_has_it(browser, served) -> None:  # type: ignore[no-untyped-def]
    base_url, db = served
    problems: list[str] = []
    page = new_page(browser, problems)
    try:
        log_in(page, base_url, "/grading")
        assert page.locator("h1").inner_text() == "Grading queue"
        page.click("text=Grade next")
        page.wait_for_url(base_url + grading_path("amara_okafor"))
        assert page.locator(".answer .markdown strong").first.inner_text() == "variance $d_k$"
        page.check("input[name=item_variance]")
        page.check("input[name=item_saturation]")
        assert page.locator("#live-points").inner_text() == "4"
        page.click("button.template >> nth=0")  # a comment template, then the TA's own words
        page.type("#comment", " Clear and complete.")
        page.screenshot(path=str(screenshots() / "web-grading.png"), full_page=True)
        page.click("#save")
        page.wait_for_url(base_url + grading_path("amara_okafor") + "?saved=1")
        assert "4 / 4" in page.locator("p.current").inner_text()
        assert problems == []
    finally:
        page.context.close()
    row = export(db)["amara_okafor"]
    assert row["manual_points"] == 4
    assert "See the lecture's variance argument. Clear and complete." in json.dumps(row)


def test_two_tas_save_the_same_answer_and_the_second_sees_the_conflict(browser, served) -> None:  # type: ignore[no-untyped-def]
    base_url, db = served
    problems: list[str] = []
    tara, theo = new_page(browser, problems), new_page(browser, problems)
    try:
        log_in_as(tara, base_url, "tara", grading_path("ben_ito"))
        log_in_as(theo, base_url, "theo", grading_path("ben_ito"))
        theo.check("input[name=item_vague]")
        theo.check("input[name=item_variance]")
        theo.fill("#comment", "Say why they get big.")
        theo.click("#save")
        theo.wait_for_url("**?saved=1")

        tara.check("input[name=item_saturation]")
        tara.fill("#comment", "Half of the argument.")
        with tara.expect_response(base_url + grading_path("ben_ito")) as answer:
            tara.click("#save")
        assert answer.value.status == 409
        conflict = tara.locator(".conflict").inner_text()
        assert "theo saved this answer first" in conflict and "Say why they get big." in conflict
        assert "Vague: no argument given" in conflict and "1 / 4" in conflict
        assert tara.input_value("#comment") == "Half of the argument."  # her unsaved choice, kept
        assert tara.is_checked("input[name=item_saturation]") and not tara.is_checked("input[name=item_variance]")
        tara.screenshot(path=str(screenshots() / "web-conflict.png"), full_page=True)
        with Gradebook(db) as book:
            kept = book.manual.get("ben_ito", ASSIGNMENT, "why_scale")
        assert kept is not None and kept.graded_by == "theo" and kept.version == 1

        tara.fill("#reason", "the saturation argument is there too")
        tara.click("#save")
        tara.wait_for_url("**?saved=1")
        with Gradebook(db) as book:
            now = book.manual.get("ben_ito", ASSIGNMENT, "why_scale")
        assert now is not None and now.graded_by == "tara" and now.version == 2
        # the one console line: chromium noting the 409 the conflict page came with
        assert [p for p in problems if "status of 409 (Conflict)" not in p] == []
    finally:
        tara.context.close()
        theo.context.close()


def test_a_hostile_answer_stays_inert(browser, served) -> None:  # type: ignore[no-untyped-def]
    base_url, _ = served
    problems: list[str] = []
    page = new_page(browser, problems)
    try:
        log_in(page, base_url, grading_path("dmitri_volkov"))
        answer = page.locator(".answer .markdown")
        text = answer.inner_text()
        assert "<script>window.__pwned = 1</script>" in text and "<img src=x onerror=" in text  # shown as text
        assert page.evaluate("window.__pwned") is None
        assert answer.locator("img, script, iframe, object").count() == 0
        assert page.locator("script").count() == 1  # ours, /static/grading.js
        assert answer.locator("a").count() == 1  # the https link; the javascript: one stays text
        assert answer.locator("a").get_attribute("href") == "https://pytorch.org/docs/stable/nn.html"
        assert problems == []  # no dialog, no console error, no blocked script
    finally:
        page.context.close()


def test_keyboard_shortcuts_apply_items_and_save(browser, served) -> None:  # type: ignore[no-untyped-def]
    base_url, db = served
    problems: list[str] = []
    page = new_page(browser, problems)
    try:
        log_in(page, base_url, grading_path("elena_garcia"))
        page.keyboard.press("?")
        assert page.locator("#shortcuts").is_visible()
        page.keyboard.press("?")
        assert not page.locator("#shortcuts").is_visible()
        page.keyboard.press("1")
        page.keyboard.press("2")
        page.keyboard.press("2")  # twice: off again
        assert page.is_checked("input[name=item_variance]") and not page.is_checked("input[name=item_saturation]")
        page.click("#comment")
        page.keyboard.type("2 of 4: what happens to the gradients?")  # digits typed in the comment stay text
        assert not page.is_checked("input[name=item_saturation]")
        page.keyboard.press("Control+Enter")
        page.wait_for_url("**?saved=1")
        with Gradebook(db) as book:
            grade = book.manual.get("elena_garcia", ASSIGNMENT, "why_scale")
        assert grade is not None and grade.items == ("variance",) and grade.points == 2
        assert grade.comment == "2 of 4: what happens to the gradients?"
        page.keyboard.press("n")
        page.wait_for_url(base_url + grading_path("farid_haddad"))
        page.keyboard.press("p")
        page.wait_for_url(base_url + grading_path("elena_garcia"))
        page.goto(base_url + "/grading")
        page.screenshot(path=str(screenshots() / "web-queue.png"), full_page=True)
        assert problems == []
    finally:
        page.context.close()


def test_a_grading_form_without_its_token_gets_403(browser, served) -> None:  # type: ignore[no-untyped-def]
    base_url, db = served
    problems: list[str] = []
    page = new_page(browser, problems)
    try:
        log_in(page, base_url, grading_path("grace_lee"))
        page.evaluate("document.querySelector('#grade-form input[name=csrf_token]').remove()")
        page.check("input[name=item_vague]")
        with page.expect_response(base_url + grading_path("grace_lee")) as answer:
            page.click("#save")
        assert answer.value.status == 403
        with Gradebook(db) as book:
            assert book.manual.get("grace_lee", ASSIGNMENT, "why_scale") is None
    finally:
        page.context.close()
