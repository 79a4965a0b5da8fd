"""The report's pages in the web app: rendered from the gradebook with the report's contexts and
templates, every link working, hostile text escaped, the security headers on every answer, an
access log line per request that holds no password or token."""

from __future__ import annotations

import logging
import re
from dataclasses import fields
from urllib.parse import urldefrag, urljoin

import pytest
from jinja2 import meta
from starlette.testclient import TestClient

from grader.reports.write import TEMPLATES
from grader.store.gradebook import Gradebook
from grader.web.headers import HEADERS
from grader.web.login import LoginContext
from grader.web.rendering import web_environment
from tests.factories import make_grade
from tests.unit.web.conftest import HOSTILE, IMG, PAGES, PASSWORD, form_token, login, session_cookie


@pytest.mark.parametrize("which", sorted(PAGES))
def test_each_kind_of_page_renders_with_who_is_logged_in(client: TestClient, which: str) -> None:
    login(client)
    page = client.get(PAGES[which])
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "Logged in as <strong>tara</strong>" in page.text and 'action="/logout"' in page.text
    assert page.text.count("<h1>") + page.text.count("<h1 ") == 1


APP_PAGES = {"/grading", "/history"}


def test_every_link_of_the_report_works_in_the_app(client: TestClient) -> None:
    login(client)
    seen: set[str] = set()
    queue = ["http://testserver/"]
    while queue:
        url = queue.pop()
        if url in seen:
            continue
        seen.add(url)
        page = client.get(url)
        assert page.status_code == 200, url
        for href in re.findall(r'(?:href|src)="([^"]+)"', page.text):
            if href in APP_PAGES:  # the app's own pages (the header's menu): tested in test_grading
                continue
            target, fragment = urldefrag(urljoin(url, href.replace("&amp;", "&")))
            assert target.startswith("http://testserver/"), f"{url} links away: {href}"
            if target.endswith(".css"):
                assert client.get(target).status_code == 200
            elif target not in seen:
                queue.append(target)
            if fragment:
                assert f'id="{fragment}"' in client.get(target).text, f"{url}: {href}"
    # the overview (twice: / and /index.html), 3 students, 2 tests, 1 run
    assert len(seen) == 8, sorted(seen)


def test_student_text_is_escaped_everywhere(client: TestClient) -> None:
    login(client)
    for path in ("/", PAGES["test"], PAGES["run"], "/" + re.search(r'href="(students/mallory[^"#]+)', client.get("/").text)[1]):
        html = client.get(path).text
        assert "<script" not in html and "<img" not in html, path
        assert "mallory&lt;script&gt;alert(1)&lt;/script&gt;" in html, path
    test_page = client.get(PAGES["test"]).text
    assert "&lt;img src=x onerror=&#34;alert(2)&#34;&gt;" in test_page or "&lt;img src=x onerror=&quot;" in test_page


def test_unknown_pages_are_404_once_logged_in(client: TestClient) -> None:
    login(client)
    for path in ("/students/nobody-000000000000.html", "/students/x", "/tests/..%2Findex.html", "/runs/run-99.html",
                 "/runs/x.html", "/other/x.html", "/static/other.css", "/students/", "/login/x"):
        response = client.get(path)
        assert response.status_code in (404, 405), path
        assert "alice" not in response.text


def test_pages_follow_the_gradebook_as_it_changes(client: TestClient, db_url: str) -> None:
    login(client)
    assert "zoe_zimmer" not in client.get("/").text
    with Gradebook(db_url) as book:
        run = book.start_run({})
        book.record(run, make_grade("zoe_zimmer", "05_attention_mechanism"))
        book.finish_run(run)
        book.add_override("bob_brandt", "05_attention_mechanism", None, 4.5, reason="hand-graded", created_by="tara")
    overview = client.get("/").text
    assert "zoe_zimmer" in overview and "hand-graded" in overview and "Run 2" in overview


@pytest.mark.parametrize("path", ["/", "/login", "/static/style.css", PAGES["student"], "/nowhere"])
def test_security_headers_on_every_answer(client: TestClient, path: str) -> None:
    for logged_in in (False, True):
        if logged_in:
            login(client)
        response = client.get(path)
        for name, value in HEADERS.items():
            assert response.headers[name] == value, (path, name)
        policy = response.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in policy and "default-src 'none'" in policy
        # scripts from our own files only (the grading page's shortcuts): never inline, never eval
        assert re.search(r"script-src 'self';", policy) and "unsafe" not in policy.replace("style-src-attr 'unsafe-inline'", "")
    assert client.post("/logout").headers["x-frame-options"] == "DENY"  # a 403 too


def test_the_access_log_has_a_line_per_request_and_no_secret(client: TestClient,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="grader.web")
    login(client, next_="/students/x?secret=no")
    token = form_token(client.get("/").text)
    client.post("/logout", data={"csrf_token": token})
    lines = [r.getMessage() for r in caplog.records if r.name == "grader.web.access"]
    assert len(lines) == 4  # GET /login, POST /login, GET /, POST /logout
    assert re.fullmatch(r'testclient - "GET /login" 200 [0-9.]+ms', lines[0])
    assert re.fullmatch(r'testclient tara "GET /" 200 [0-9.]+ms', lines[2])
    everything = "\n".join(r.getMessage() for r in caplog.records)
    assert PASSWORD not in everything and token not in everything and "secret" not in everything
    assert "tara logged in" in everything


def test_a_forged_log_line_stays_on_its_line(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="grader.web.access")
    client.get("/x%0a127.0.0.1 admin \"GET /\" 200")
    (line,) = [r.getMessage() for r in caplog.records if r.name == "grader.web.access"]
    assert "\n" not in line and "%0a" in line


def test_templates_use_their_context_and_the_visitor() -> None:
    """The report's contract, in the app: each template uses exactly its context's fields, plus
    `visitor` from the app's header (and, for the login page, nothing of the report's footer)."""
    env = web_environment()

    def used(name: str) -> set[str]:
        ast = env.parse(env.loader.get_source(env, name)[0])
        names = set(meta.find_undeclared_variables(ast))
        for parent in meta.find_referenced_templates(ast):
            assert parent is not None
            names |= used(parent)
        return names

    assert env.autoescape is True
    for context, template in TEMPLATES.items():
        if template != "feedback.html":  # the students' feedback pages are not served
            # the app's index.html takes its class table's rows rendered beforehand (site_cache.py)
            extra = {"class_rows"} if template == "index.html" else set()
            assert used(template) == {f.name for f in fields(context)} | {"visitor"} | extra, template
    assert used("login.html") == {f.name for f in fields(LoginContext)} | {"visitor", "generated_at"}


def test_logged_out_pages_say_nothing_of_the_class(client: TestClient) -> None:
    login(client)
    client.post("/logout", data={"csrf_token": form_token(client.get("/").text)})
    assert session_cookie(client) is None
    page = client.get("/login")
    assert "alice" not in page.text and "mallory" not in page.text and IMG not in page.text
