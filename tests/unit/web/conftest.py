"""A real gradebook for the web app's tests, on SQLite and (marker `postgres`) on PostgreSQL:
three students' results from tests/factories, one of them hostile, and two accounts."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from grader.reports.text import page_of_test, student_page
from grader.store.gradebook import Gradebook
from grader.web.app import create_app
from tests.factories import make_grade, make_test_result
from tests.postgres import fresh_database

PASSWORD = "correct horse battery"
HOSTILE = "mallory<script>alert(1)</script>"
IMG = '<img src=x onerror="alert(2)">'
STUDENTS = ("alice_anders", "bob_brandt", HOSTILE)
ASSIGNMENT = "05_attention_mechanism"
PAGES = {
    "overview": "/",
    "student": "/" + student_page("alice_anders"),
    "test": "/" + page_of_test(ASSIGNMENT, "test_mask"),
    "run": "/runs/run-1.html",
}


def fill(url: str) -> None:
    with Gradebook(url) as book:
        run = book.start_run({})
        for student in STUDENTS:
            failed = make_test_result("test_mask", "failed", max_points=3.0, message=f"weight 0.25 on a masked key {IMG}")
            tests = (make_test_result("test_scores"), failed if student != "alice_anders" else
                     make_test_result("test_mask", max_points=3.0))
            book.record(run, make_grade(student, ASSIGNMENT, tests=tests))
        book.finish_run(run)
        book.accounts.add_user("tara", "ta", PASSWORD)
        book.accounts.add_user("ingrid", "instructor", PASSWORD + "!")


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A filled gradebook, once per module and backend."""
    if request.param == "sqlite":
        url = str(tmp_path_factory.mktemp("web") / "grade.db")
    else:
        url = fresh_database(request.getfixturevalue("postgres_url"), f"web_{uuid.uuid4().hex[:12]}")
    fill(url)
    return url


@pytest.fixture
def client(db_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(db_url, secure_cookies=False, trust_proxy_header=None, fresh_wait_s=60),
                    follow_redirects=False) as test_client:
        yield test_client


def form_token(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no csrf_token field in the page"
    return found.group(1)


def login(client: TestClient, username: str = "tara", password: str = PASSWORD, *, next_: str = "/"):  # type: ignore[no-untyped-def]
    """Through the form, as a browser does: GET /login (token and cookie), then POST it."""
    page = client.get("/login", params={"next": next_})
    assert page.status_code == 200
    return client.post("/login", data={"username": username, "password": password, "next": next_,
                                       "csrf_token": form_token(page.text)})


def session_cookie(client: TestClient) -> str | None:
    return client.cookies.get("grade_session")




def plant(client: TestClient, name: str, value: str, path: str = "/") -> None:
    """Set a cookie in the client's jar as the server's own would be (replacing one of that name)."""
    client.cookies.delete(name)
    client.cookies.set(name, value, domain="testserver.local", path=path)
