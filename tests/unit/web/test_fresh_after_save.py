"""A TA's save or override shows on the class overview and the student's page at the next request
once the pages are refreshed (site_cache.py revises them rather than reading the class again),
and nobody else's row changes. The real app on a real gradebook, SQLite and PostgreSQL."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from grader.reports.text import student_page
from grader.web.app import create_app
from tests.postgres import fresh_database
from tests.unit.web.conftest import PASSWORD, form_token, login
from tests.unit.web.test_grading import ASSIGNMENT, fill, save


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A gradebook of its own per test: each test saves grades."""
    if request.param == "sqlite":
        url = str(tmp_path_factory.mktemp("fresh") / "grade.db")
    else:
        url = fresh_database(request.getfixturevalue("postgres_url"), f"fresh_{uuid.uuid4().hex[:12]}")
    fill(url)
    return url


@pytest.fixture
def tara(db_url: str) -> Iterator[TestClient]:
    # fresh_wait_s: the request waits for the refresh however slow the machine (the app waits 0.1 s)
    with TestClient(create_app(db_url, secure_cookies=False, trust_proxy_header=None, fresh_wait_s=60),
                    follow_redirects=False) as client:
        assert login(client, "tara", PASSWORD).status_code == 303
        yield client


def row(overview: str, student: str) -> str:
    """`student`'s row of the class table."""
    found = re.search(rf'>{re.escape(student)}</a></th>(.*?)</tr>', overview, re.S)
    assert found, f"no row for {student} in the overview"
    return found[1]


def got(overview: str, student: str) -> float:
    """The points in `student`'s cell for ASSIGNMENT (the only assignment these students have)."""
    found = re.search(r'<span class="score">([\d.]+) / [\d.]+</span>', row(overview, student))
    assert found, f"no score in {student}'s row"
    return float(found[1])


def test_a_save_shows_on_the_overview_and_the_student_page_at_once(tara: TestClient) -> None:
    before = tara.get("/").text
    student_before = tara.get("/" + student_page("s01")).text  # rendered and kept, as a busy TA's would be
    assert "awaiting manual grading" in row(before, "s01") and "Both arguments, crisp." not in student_before

    assert save(tara, "s01", items=("variance", "saturation"), comment="Both arguments, crisp.").status_code == 303
    after = tara.get("/").text
    assert "awaiting manual grading" not in row(after, "s01")
    assert got(after, "s01") == got(before, "s01") + 4  # the two items' points
    assert row(after, "s02") == row(before, "s02")  # nobody else's row changed
    page = tara.get("/" + student_page("s01")).text
    assert "Both arguments, crisp." in page and "4 / 4" in page

    page = tara.get(f"/grading/{ASSIGNMENT}/why_scale/s01").text
    version = re.search(r'name="version" value="(\d+)"', page)
    assert version
    assert save(tara, "s01", items=("variance",), comment="Only the variance, on a second look.",
                version=version[1], reason="regrade request", token=form_token(page)).status_code == 303
    regraded = tara.get("/").text
    assert got(regraded, "s01") == got(before, "s01") + 2
    assert "Only the variance, on a second look." in tara.get("/" + student_page("s01")).text


def test_an_override_shows_on_the_overview_and_the_student_page_at_once(tara: TestClient) -> None:
    before = tara.get("/").text
    page = tara.get("/" + student_page("s02")).text
    form = {"csrf_token": form_token(page), "student": "s02", "assignment": ASSIGNMENT, "test": "",
            "points": "1.5", "reason": "hand-checked the mask"}
    assert tara.post("/overrides", data=form).status_code == 303
    after = tara.get("/").text
    assert got(after, "s02") == 1.5 and ">override</span>" in row(after, "s02")
    assert "hand-checked the mask" in after  # the overview's list of overrides
    assert row(after, "s03") == row(before, "s03")
    assert "hand-checked the mask" in tara.get("/" + student_page("s02")).text
