"""The reports in a real headless browser: Debian's chromium driven by playwright (no browser
download, works offline). Pages load from file:// without console errors, every internal link
resolves, and hostile student output stays inert text.

Screenshots go to $GRADER_SCREENSHOTS or <tmp>/grade-report-screenshots/.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path
from urllib.parse import urldefrag

import pytest

from grader import models as m
from grader.kernel.figures import figure
from grader.kernel.tamper import output_signals
from grader.reports.write import page_name, write_store_reports
from grader.reports.text import page_of_test, run_page
from grader.store.gradebook import Gradebook
from tests.factories import make_fingerprint, make_grade, make_model_score, make_test_result

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium: apt-get install chromium"),
]
SCRIPT = "<script>window.__pwned = 1</script>"
IMG = "<img src=x onerror=\"window.__pwned = 2\">"
HOSTILE = "mallory<script>"
PNG_1X1 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGD4DwABBAEAwS2OUAAAAABJRU5ErkJggg=="
SVG = ('<svg xmlns="http://www.w3.org/2000/svg" width="40" height="20" onload="window.__pwned = 4">'
       '<script>window.__pwned = 3</script><rect width="40" height="20" fill="teal"/></svg>')


def grade(student: str, passed: bool, **changes: object) -> m.Grade:
    mask = make_test_result("test_mask", "passed" if passed else "failed", max_points=3.0,
                            message="" if passed else f"weight 0.25 on a masked key {IMG}")
    return make_grade(student, "05_attention", tests=(make_test_result("test_scores"), mask), **changes)


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("browser")
    output = f"{SCRIPT}\n{IMG}\nAll tests passed!\n"
    errors = (m.CellError(3, "PermissionError", f"Permission denied {IMG}"),)
    hostile_run = m.Execution(m.Status.GRADED, output_excerpt=output, cell_errors=errors,
                              signals=output_signals(errors, output))  # as the kernel stage records them
    drawn = (figure(2, "image/png", PNG_1X1), figure(3, "image/svg+xml", SVG))  # as the kernel stage keeps them
    plots = m.Execution(m.Status.GRADED, figures=tuple(f for f in drawn if f is not None))
    with Gradebook(root / "g.db") as book:
        first = book.start_run({})
        book.record(first, grade("alice", True))
        book.record(first, grade(HOSTILE, False, execution=hostile_run,
                                  model_score=make_model_score(accuracy=0.5, labels=(IMG, SCRIPT))))
        book.finish_run(first)
        second = book.start_run({})
        book.record(second, grade("bob", False))
        book.record(second, replace(grade("alice", True, execution=plots), fingerprint=make_fingerprint(tests_hash="t2")))
        book.finish_run(second)
        book.add_override("bob", "05_attention", "test_mask", 1.0, reason=f"partial {SCRIPT}", created_by="ta")
        write_store_reports(book, root / "reports", title=f"Week 3 {SCRIPT}")
    return root / "reports"


@pytest.fixture(scope="module")
def browser():  # type: ignore[no-untyped-def]
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        # --no-sandbox: chromium's own sandbox needs user namespaces a root container may lack.
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield browser
        browser.close()


def screenshots() -> Path:
    folder = Path(os.environ.get("GRADER_SCREENSHOTS", Path(tempfile.gettempdir()) / "grade-report-screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def open_page(browser, path: Path):  # type: ignore[no-untyped-def]
    """A loaded page and the console errors, page errors and failed requests it produced."""
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(f"console {msg.type}: {msg.text}") if msg.type in ("error", "warning") else None)
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("requestfailed", lambda request: problems.append(f"request failed: {request.url}"))
    page.goto(path.as_uri(), wait_until="load")
    return page, problems


@pytest.mark.parametrize("which", ["index", "student", "test", "run"])
def test_pages_load_without_console_errors(reports: Path, browser, which: str) -> None:  # type: ignore[no-untyped-def]
    path = {
        "index": reports / "index.html",
        "student": reports / "students" / page_name(HOSTILE),
        "test": reports / page_of_test("05_attention", "test_mask"),
        "run": reports / run_page(2),
    }[which]
    page, problems = open_page(browser, path)
    try:
        assert page.title()
        assert page.locator("h1").count() == 1
        # The stylesheet loaded and applied (file:// works with relative links).
        assert page.evaluate("getComputedStyle(document.body).maxWidth") == "1152px"
        page.screenshot(path=str(screenshots() / f"{which}.png"), full_page=True)
        assert problems == []
    finally:
        page.close()


def test_every_internal_link_resolves(reports: Path, browser) -> None:  # type: ignore[no-untyped-def]
    seen: set[str] = set()
    queue = [(reports / "index.html").as_uri()]
    checked = 0
    while queue:
        url = queue.pop()
        if url in seen:
            continue
        seen.add(url)
        page, problems = open_page(browser, Path(url.removeprefix("file://")))
        try:
            links = page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
            for link in links:
                target, fragment = urldefrag(link)
                assert target.startswith("file://"), f"{url} links outside the report: {link}"
                file = Path(target.removeprefix("file://"))
                assert file.is_file() and file.resolve().is_relative_to(reports.resolve()), f"{url}: {link}"
                if fragment:
                    if target == url:
                        assert page.locator(f"[id='{fragment}']").count() == 1, f"{url}: #{fragment}"
                    else:
                        other, _ = open_page(browser, file)
                        assert other.locator(f"[id='{fragment}']").count() == 1, f"{url}: {link}"
                        other.close()
                checked += 1
                if target.endswith(".html"):
                    queue.append(target)
            assert problems == [], url
        finally:
            page.close()
    assert checked > 30 and len(seen) >= 8  # index, 3 students, 2 tests, 2 runs


def test_hostile_output_stays_inert_text(reports: Path, browser) -> None:  # type: ignore[no-untyped-def]
    page, problems = open_page(browser, reports / "students" / page_name(HOSTILE))
    try:
        assert page.evaluate("window.__pwned") is None
        assert page.locator("main img").count() == 0 and page.locator("script").count() == 0
        output = page.locator("pre.output").inner_text()
        assert SCRIPT in output and IMG in output  # shown to the TA as text
        assert IMG in page.locator("table.errors").inner_text()
        assert "attempt to leave the sandbox" in page.locator("div.signals").inner_text()
        page.screenshot(path=str(screenshots() / "hostile-student.png"), full_page=True)
        assert problems == []
    finally:
        page.close()
    index, problems = open_page(browser, reports / "index.html")
    try:
        assert index.evaluate("window.__pwned") is None and SCRIPT in index.locator("h1").inner_text()
        assert index.locator("svg rect.chart-bar").count() == 10  # the score chart rendered
        assert f"partial {SCRIPT}" in index.locator("#overrides").inner_text()
        assert problems == []
    finally:
        index.close()


def test_figures_render_as_images_and_an_svgs_script_never_runs(reports: Path, browser) -> None:  # type: ignore[no-untyped-def]
    page, problems = open_page(browser, reports / "students" / page_name("alice"))
    try:
        images = page.locator(".figures img")
        assert images.count() == 2
        sizes = images.evaluate_all("imgs => imgs.map(i => [i.complete, i.naturalWidth, i.naturalHeight])")
        assert sizes == [[True, 1, 1], [True, 40, 20]]  # both decoded and drawn
        assert page.evaluate("window.__pwned") is None  # the SVG's <script> and onload stayed inert
        page.screenshot(path=str(screenshots() / "figures.png"), full_page=True)
        assert problems == []
    finally:
        page.close()
