"""Manual grading in the web app: the queue, the grading page (the answer made inert, the rubric
items, the version), saving, conflicts between two TAs, regrades, overrides from the student
page, the history. Through Starlette's TestClient on a real gradebook, SQLite and PostgreSQL."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import fields
from urllib.parse import quote

import pytest
from jinja2 import meta
from starlette.testclient import TestClient

from grader.models import ManualPart, ManualResult, RubricItem
from grader.reports.text import student_page
from grader.store.gradebook import Gradebook
from grader.web import grading, history, overrides, queue
from grader.web.app import create_app
from grader.web.rendering import web_environment
from tests.factories import make_grade
from tests.postgres import fresh_database
from tests.unit.web.conftest import PASSWORD, form_token, login

ASSIGNMENT = "05_attention_mechanism"
PART = ManualPart(
    name="Why scale by sqrt(d_k)?", answer="why_scale",
    items=(RubricItem("variance", 2, "Dot products of d_k-dim vectors have variance d_k"),
           RubricItem("saturation", 2, "Large logits saturate the softmax, gradients vanish"),
           RubricItem("vague", -1, "Vague: no argument given")),
    comments=("See the lecture's variance argument.",))
HOSTILE_ANSWER = ('Scaling keeps the **variance** at 1. <script>window.__pwned = 1</script>\n\n'
                  '<img src=x onerror="alert(2)"> [click](javascript:alert(3)) [docs](https://pytorch.org/docs)')
ANSWERS = {f"s{i:02d}": f"Answer of s{i:02d}: the dot product grows with d_k." for i in range(1, 10)}
ANSWERS["s07"] = HOSTILE_ANSWER
ANSWERS["s08"] = None  # handed in no answer


def fill(url: str) -> None:
    with Gradebook(url) as book:
        run = book.start_run({})
        for student, answer in ANSWERS.items():
            book.record(run, make_grade(student, ASSIGNMENT, manual=(ManualResult(PART, answer),)))
        book.record(run, make_grade("no_manual", "01_neural_networks"))
        book.finish_run(run)
        book.accounts.add_user("tara", "ta", PASSWORD)
        book.accounts.add_user("ingrid", "instructor", PASSWORD)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    if request.param == "sqlite":
        url = str(tmp_path_factory.mktemp("grading") / "grade.db")
    else:
        url = fresh_database(request.getfixturevalue("postgres_url"), f"grading_{uuid.uuid4().hex[:12]}")
    fill(url)
    return url


def _client(db_url: str, user: str | None) -> Iterator[TestClient]:
    with TestClient(create_app(db_url, secure_cookies=False, trust_proxy_header=None, fresh_wait_s=60),
                    follow_redirects=False) as client:
        if user:
            assert login(client, user, PASSWORD).status_code == 303
        yield client


@pytest.fixture
def tara(db_url: str) -> Iterator[TestClient]:
    yield from _client(db_url, "tara")


@pytest.fixture
def ingrid(db_url: str) -> Iterator[TestClient]:
    yield from _client(db_url, "ingrid")


@pytest.fixture
def anonymous(db_url: str) -> Iterator[TestClient]:
    yield from _client(db_url, None)


def page_of(student: str) -> str:
    return f"/grading/{ASSIGNMENT}/why_scale/{quote(student)}"


def version_of(html: str) -> str:
    found = re.search(r'name="version" value="(\d+)"', html)
    assert found, "no version field in the page"
    return found[1]


def save(client: TestClient, student: str, *, items: tuple[str, ...] = (), comment: str = "", version: str | None = None,
         reason: str = "", adjustment: str = "0", token: str | None = None):  # type: ignore[no-untyped-def]
    page = client.get(page_of(student)).text if version is None or token is None else ""
    form = {"csrf_token": token or form_token(page), "version": version if version is not None else version_of(page),
            "adjustment": adjustment, "comment": comment, "reason": reason}
    return client.post(page_of(student), data=form | {f"item_{i}": "1" for i in items})


def main_of(html: str) -> str:
    return html[html.index("<main>"):html.index("</main>")]


def test_the_queue_counts_each_part_and_shows_who_is_grading_what(tara: TestClient, ingrid: TestClient,
                                                                   db_url: str) -> None:
    page = tara.get("/grading")
    assert page.status_code == 200
    row = re.search(r"<tr>\s*<td>05_attention_mechanism</td>(.*?)</tr>", page.text, re.S)
    assert row, page.text
    # graded / answered / students, before anyone graded
    with Gradebook(db_url) as book:
        graded = sum(e.grade is not None for e in book.manual.queue(ASSIGNMENT))
    numbers = re.findall(r'<td class="num">(\d+)</td>', row[1])
    assert numbers == [str(graded), "8", "9"]
    assert "01_neural_networks" not in page.text  # no manual part there
    assert ingrid.get(page_of("s03")).status_code == 200  # opening claims it
    row = re.search(r"<tr>\s*<td>05_attention_mechanism</td>(.*?)</tr>", tara.get("/grading").text, re.S)
    assert row and f'<a href="{page_of("s03")}">ingrid: s03</a>' in row[1]
    part = tara.get(f"/grading/{ASSIGNMENT}/why_scale")
    assert part.status_code == 200 and "no answer" in part.text and "ingrid since" in part.text
    assert tara.get("/grading?assignment=01_neural_networks").text.count("<tbody>") == 0


def test_the_grading_page_shows_the_answer_inert_beside_the_rubric(tara: TestClient) -> None:
    page = tara.get(page_of("s07"))
    assert page.status_code == 200
    main = main_of(page.text)
    assert "<strong>variance</strong>" in main  # markdown is rendered
    assert "<script>window" not in main and "&lt;script&gt;window.__pwned" in main
    assert "<img" not in main and "&lt;img src=x onerror=" in main
    assert 'href="javascript:' not in main and '<a href="https://pytorch.org/docs" rel="nofollow noopener noreferrer"' in main
    # the only script is our file; the policy runs nothing inline
    assert re.findall(r"<script[^>]*>", page.text) == ['<script src="/static/grading.js" defer>']
    assert "script-src 'self'" in page.headers["content-security-policy"]
    for item in PART.items:
        assert f'name="item_{item.id}"' in main and item.description in main
    assert 'data-key="1"' in main and 'data-key="3"' in main
    assert "See the lecture&#39;s variance argument." in main
    assert "Dot products of d_k-dim vectors" in main and "max 4" in main
    assert tara.get(page_of("s08")).status_code == 200 and "No answer handed in." in tara.get(page_of("s08")).text
    assert tara.get("/static/grading.js").headers["content-type"].startswith("text/javascript")


def test_a_save_stores_the_items_the_points_and_the_comment(tara: TestClient, db_url: str) -> None:
    response = save(tara, "s01", items=("variance", "saturation"), comment="Both arguments, well put.")
    assert response.status_code == 303 and response.headers["location"] == page_of("s01") + "?saved=1"
    with Gradebook(db_url) as book:
        grade = book.manual.get("s01", ASSIGNMENT, "why_scale")
    assert grade is not None and grade.items == ("variance", "saturation") and grade.points == 4
    assert grade.comment == "Both arguments, well put." and grade.graded_by == "tara" and grade.version == 1
    page = tara.get(page_of("s01") + "?saved=1").text
    assert "Saved." in page and "4 / 4" in page and version_of(page) == "1"
    assert 'name="reason"' in page and "required" in page  # the next save would be a regrade


def test_save_and_next_goes_to_the_next_student(tara: TestClient) -> None:
    page = tara.get(page_of("s02")).text
    form = {"csrf_token": form_token(page), "version": version_of(page), "adjustment": "-1", "comment": "",
            "item_variance": "1", "then": "next"}
    response = tara.post(page_of("s02"), data=form)
    assert response.status_code == 303 and response.headers["location"] == page_of("s03") + "?saved=previous"
    page = tara.get(response.headers["location"]).text
    assert 'id="next-student" rel="next" href="' + page_of("s04") in page
    assert "Saved the previous student&#39;s grade." in page


def test_two_tas_on_one_answer_the_second_sees_the_conflict(tara: TestClient, ingrid: TestClient,
                                                            db_url: str) -> None:
    mine, theirs = tara.get(page_of("s04")).text, ingrid.get(page_of("s04")).text
    assert version_of(mine) == version_of(theirs) == "0"
    assert "opened this answer" not in mine and "tara opened this answer at" in theirs
    first = save(ingrid, "s04", items=("variance",), comment="Only the variance.", version="0",
                 token=form_token(theirs))
    assert first.status_code == 303
    second = save(tara, "s04", items=("saturation", "vague"), comment="tara's view", version="0", token=form_token(mine))
    assert second.status_code == 409
    main = main_of(second.text)
    assert "ingrid saved this answer first" in main and "Only the variance." in main
    assert "+2 Dot products of d_k-dim vectors have variance d_k" in main  # their items, described
    assert "tara&#39;s view" in main  # tara's own unsaved choice is kept in the form...
    assert re.search(r'name="item_saturation" value="1"[^>]*checked', main)
    assert not re.search(r'name="item_variance" value="1"[^>]*checked', main)
    assert version_of(second.text) == "1"  # ...now based on ingrid's version
    with Gradebook(db_url) as book:
        kept = book.manual.get("s04", ASSIGNMENT, "why_scale")
    assert kept is not None and kept.graded_by == "ingrid" and kept.comment == "Only the variance."  # nothing lost

    # Saving on top of ingrid's grade is a regrade: it needs a reason, then it goes through.
    again = save(tara, "s04", items=("saturation",), comment="tara's view", version="1", token=form_token(second.text))
    assert again.status_code == 400 and "reason" in main_of(again.text)
    done = save(tara, "s04", items=("saturation",), comment="tara's view", version="1", token=form_token(second.text),
                reason="the variance argument is missing its d_k")
    assert done.status_code == 303
    with Gradebook(db_url) as book:
        now = book.manual.get("s04", ASSIGNMENT, "why_scale")
    assert now is not None and now.graded_by == "tara" and now.version == 2 and now.points == 2


def test_history_lists_every_change_with_who_before_after_why(tara: TestClient, ingrid: TestClient) -> None:
    assert save(tara, "s05", items=("variance",), comment="first").status_code == 303
    assert save(ingrid, "s05", items=("variance", "saturation"), comment="second",
                reason="saturation is argued in the second paragraph").status_code == 303
    page = tara.get("/history", params={"student": "s05"})
    assert page.status_code == 200
    rows = re.findall(r'<tr class="event-(\w+)">(.*?)</tr>', page.text, re.S)
    kinds = [kind for kind, _ in rows]
    assert kinds == ["regrade", "claim", "manual", "claim"]  # newest first; opening the page claims it
    regrade = rows[0][1]
    assert "ingrid" in regrade and "saturation is argued in the second paragraph" in regrade
    before, after = re.findall(r"<td>(<div>.*?)</td>", regrade, re.S)[:2]
    assert "first" in before and "second" in after
    assert all("s05" in row for _, row in rows)
    assert "s01" not in main_of(page.text)
    only = tara.get("/history", params={"student": "s05", "kind": "regrade"}).text
    assert only.count('<tr class="event-') == 1


def test_an_override_from_the_student_page_is_recorded(tara: TestClient, db_url: str) -> None:
    student_url = "/" + student_page("s06")
    page = tara.get(student_url).text
    assert 'action="/overrides"' in page
    form = {"csrf_token": form_token(page), "student": "s06", "assignment": ASSIGNMENT, "test": "",
            "points": "4.5", "reason": "hand-checked the mask"}
    assert tara.post("/overrides", data=form | {"reason": ""}).status_code == 400
    assert tara.post("/overrides", data=form | {"points": "many"}).status_code == 400
    response = tara.post("/overrides", data=form)
    assert response.status_code == 303 and response.headers["location"].startswith(student_url + "#")
    with Gradebook(db_url) as book:
        made = [o for o in book.overrides() if o.student == "s06"]
    assert [(o.points, o.reason, o.created_by) for o in made] == [(4.5, "hand-checked the mask", "tara")]
    history_page = tara.get("/history", params={"student": "s06", "kind": "override"}).text
    assert "hand-checked the mask" in history_page and "tara" in history_page


def test_posts_without_the_csrf_token_change_nothing(tara: TestClient, db_url: str) -> None:
    page = tara.get(page_of("s03")).text
    good = {"csrf_token": form_token(page), "version": version_of(page), "comment": "x", "item_variance": "1"}
    for forged in ({k: v for k, v in good.items() if k != "csrf_token"}, good | {"csrf_token": "0" * 64}):
        assert tara.post(page_of("s03"), data=forged).status_code == 403
        assert tara.post("/overrides", data=forged | {"student": "s03", "assignment": ASSIGNMENT, "points": "1",
                                                      "reason": "r"}).status_code == 403
    with Gradebook(db_url) as book:
        grade = book.manual.get("s03", ASSIGNMENT, "why_scale")
        assert grade is None or grade.comment != "x"
        assert not [o for o in book.overrides() if o.student == "s03"]


def test_anonymous_visitors_see_no_grading_page(anonymous: TestClient) -> None:
    for path in ("/grading", f"/grading/{ASSIGNMENT}/why_scale", page_of("s07"), "/history?student=s07",
                 "/history"):
        response = anonymous.get(path)
        assert response.status_code == 303 and response.headers["location"].startswith("/login?next=")
        assert "s07" not in response.text and "variance" not in response.text
    assert anonymous.post(page_of("s07"), data={"version": "0"}).status_code == 403


def test_unknown_answers_are_404(tara: TestClient) -> None:
    for path in (page_of("nobody"), f"/grading/{ASSIGNMENT}/no_such_part/s01", "/grading/01_neural_networks/x/no_manual",
                 f"/grading/{ASSIGNMENT}/no_such_part"):
        response = tara.get(path)
        assert response.status_code == 404, path
    assert tara.post(page_of("nobody"), data={"csrf_token": form_token(tara.get("/").text),
                                              "version": "0"}).status_code == 404


def test_a_damaged_form_is_refused_and_saves_nothing(tara: TestClient, db_url: str) -> None:
    for bad in ({"version": "one"}, {"adjustment": "inf"}, {"adjustment": "lots"}):
        page = tara.get(page_of("s08")).text
        form = {"csrf_token": form_token(page), "version": version_of(page), "adjustment": "0"} | bad
        assert tara.post(page_of("s08"), data=form).status_code == 400
    page = tara.get(page_of("s08")).text
    long = tara.post(page_of("s08"), data={"csrf_token": form_token(page), "version": "0", "comment": "é" * 20_001})
    assert long.status_code == 400 and "20,000" in long.text  # the store's message; the comment is not cut
    assert 'maxlength="20000"' in page
    with Gradebook(db_url) as book:
        assert book.manual.get("s08", ASSIGNMENT, "why_scale") is None


def test_a_changed_answer_is_awaiting_again(tara: TestClient, db_url: str) -> None:
    assert save(tara, "s09", items=("variance",)).status_code == 303
    assert re.search(r"s09</a></td>\s*<td><span class=\"badge status-graded\">graded", tara.get(f"/grading/{ASSIGNMENT}/why_scale").text)
    with Gradebook(db_url) as book:  # the student hands in again, with another answer
        run = book.start_run({})
        book.record(run, make_grade("s09", ASSIGNMENT, manual=(ManualResult(PART, "A new answer: saturation."),),
                                    message="resubmitted"))
        book.finish_run(run)
    part = tara.get(f"/grading/{ASSIGNMENT}/why_scale").text
    assert re.search(r"s09</a></td>\s*<td><span class=\"badge status-awaiting\">answer changed since graded", part)
    page = tara.get(page_of("s09")).text
    assert "A new answer: saturation." in page and "handed in another answer after it was graded" in page


def test_templates_use_exactly_their_context() -> None:
    env = web_environment()

    def used(name: str) -> set[str]:
        ast = env.parse(env.loader.get_source(env, name)[0])  # type: ignore[union-attr]
        names = set(meta.find_undeclared_variables(ast))
        for parent in meta.find_referenced_templates(ast):
            assert parent is not None
            names |= used(parent)
        return names

    for template, context in (("queue.html", queue.QueueContext), ("part.html", queue.PartContext),
                              ("grading.html", grading.GradingContext), ("history.html", history.HistoryContext),
                              ("problem.html", overrides.ProblemContext)):
        assert used(template) == {f.name for f in fields(context)} | {"visitor", "generated_at"}, template


def test_a_page_rendered_once_gets_each_visitors_own_header_and_token(tara: TestClient, ingrid: TestClient) -> None:
    """The report's pages are rendered once per gradebook revision; the header and the forms'
    tokens are each visitor's own."""
    path = "/" + student_page("s06")
    for client, name in ((tara, "tara"), (ingrid, "ingrid"), (tara, "tara")):
        page = client.get(path).text
        assert f"Logged in as <strong>{name}</strong>" in page and "<!--grade-" not in page
        tokens = set(re.findall(r'name="csrf_token" value="([^"]+)"', page))
        assert tokens == {form_token(client.get("/history").text)}  # logout and override forms: this session's


def test_the_student_page_links_each_written_answer_to_its_grading_page(tara: TestClient) -> None:
    page = tara.get("/" + student_page("s06")).text
    link = f'href="{page_of("s06")}"'
    assert link in page and "Grade the written answers" in page
    assert tara.get(page_of("s06")).status_code == 200  # the link leads to the answer beside the rubric
    assert "Grade the written answers" not in tara.get("/" + student_page("no_manual")).text
