"""Logging in and out of the web app: the login gate, CSRF, sessions, redirects, proxy trust and
the rate limit, through Starlette's TestClient on a real gradebook (SQLite and PostgreSQL)."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from starlette.testclient import TestClient

from grader.web.app import create_app
from grader.web.limiter import LoginLimits
from tests.unit.web.conftest import ASSIGNMENT, HOSTILE, PAGES, PASSWORD, STUDENTS, form_token, login, plant, session_cookie


@pytest.mark.parametrize("path", [*PAGES.values(), "/index.html", "/students/x", "/students/nobody-000000000000.html",
                                  "/no/such/page", "/static/../index.html"])
def test_an_anonymous_visitor_is_sent_to_the_login_and_sees_no_grade(client: TestClient, path: str) -> None:
    for method in (client.get, client.head):
        response = method(path)
        assert response.status_code == 303
        assert response.headers["location"] == f"/login?next={quote(response.request.url.path, safe='')}"
        for student in (*STUDENTS, "alice", "bob", "mallory"):
            assert student not in response.text
        assert "/ 5" not in response.text


def test_the_login_form_and_the_stylesheet_are_public(client: TestClient) -> None:
    page = client.get("/login")
    assert page.status_code == 200 and 'name="username"' in page.text and 'name="password"' in page.text
    assert form_token(page.text) == client.cookies.get("grade_login")  # the double submit's two halves
    assert "Logged in as" not in page.text and "alice" not in page.text
    assert client.get("/static/style.css").status_code == 200


def test_the_right_password_starts_a_session(client: TestClient) -> None:
    response = login(client, next_="/students/x.html?tab=2")
    assert response.status_code == 303 and response.headers["location"] == "/students/x.html?tab=2"
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("grade_session="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie and "Secure" not in cookie
    assert len(session_cookie(client) or "") >= 40  # 256 random bits, url-safe

    overview = client.get("/")
    assert overview.status_code == 200
    assert "Logged in as <strong>tara</strong> (ta)" in overview.text
    assert all(s in overview.text for s in ("alice_anders", "bob_brandt"))
    assert client.get("/login").headers["location"] == "/"  # already logged in: straight on


@pytest.mark.parametrize("username, password", [("tara", "wrong password!"), ("nobody", PASSWORD), ("tara", ""),
                                                ("tara", PASSWORD.upper())])
def test_a_failed_login_says_only_wrong_username_or_password(client: TestClient, username: str,
                                                              password: str) -> None:
    response = login(client, username, password)
    assert response.status_code == 200 and "wrong username or password" in response.text
    assert session_cookie(client) is None
    assert client.get("/").status_code == 303


def test_a_post_without_a_valid_csrf_token_is_refused(client: TestClient, db_url: str) -> None:
    good = {"username": "tara", "password": PASSWORD}
    # The login form: no token, a token only in the cookie, only in the form, or signed by another server.
    assert client.post("/login", data=good).status_code == 403
    token = form_token(client.get("/login").text)
    assert client.post("/login", data=good | {"csrf_token": ""}).status_code == 403
    assert client.post("/login", data=good | {"csrf_token": token + "x"}).status_code == 403
    with TestClient(create_app(db_url, secure_cookies=False, trust_proxy_header=None),
                    follow_redirects=False) as other:
        foreign = form_token(other.get("/login").text)
        plant(other, "grade_login", token, path="/login")  # ours, but the other app never signed it
        assert other.post("/login", data=good | {"csrf_token": token}).status_code == 403
    client.cookies.delete("grade_login")
    assert client.post("/login", data=good | {"csrf_token": token}).status_code == 403
    plant(client, "grade_login", foreign, path="/login")
    assert client.post("/login", data=good | {"csrf_token": foreign}).status_code == 403
    assert session_cookie(client) is None

    # Logged in: every POST route wants the session's token; logout without it changes nothing.
    assert login(client).status_code == 303
    page_token = form_token(client.get("/").text)
    routes = [r for r in client.app.routes if "POST" in (getattr(r, "methods", None) or ()) and r.path != "/login"]
    assert sorted(r.path for r in routes) == ["/grading/{assignment:str}/{part:str}/{student:str}", "/logout",
                                              "/overrides"]
    assert all(getattr(r.endpoint, "csrf_protected", False) for r in routes)
    for path in ("/logout", "/overrides", f"/grading/{ASSIGNMENT}/why_scale/alice_anders"):
        assert client.post(path).status_code == 403
        assert client.post(path, data={"csrf_token": "0" * 64}).status_code == 403
        assert client.post(path, content=f'{{"csrf_token": "{page_token}"}}',
                           headers={"content-type": "application/json"}).status_code == 403
    assert client.get("/").status_code == 200
    # Anonymous POSTs are refused before any handler runs.
    client.cookies.clear()
    assert client.post("/logout", data={"csrf_token": page_token}).status_code == 403


def test_logout_ends_the_session_for_good(client: TestClient, db_url: str) -> None:
    login(client)
    old = session_cookie(client)
    assert old and client.get("/").status_code == 200
    response = client.post("/logout", data={"csrf_token": form_token(client.get("/").text)})
    assert response.status_code == 303 and response.headers["location"] == "/login"
    assert session_cookie(client) is None
    assert client.get("/").status_code == 303

    with TestClient(create_app(db_url, secure_cookies=False, trust_proxy_header=None),
                    follow_redirects=False) as replay:
        plant(replay, "grade_session", old)
        assert replay.get("/").status_code == 303
        assert replay.get(PAGES["student"]).headers["location"].startswith("/login?next=")


def test_logging_in_always_issues_a_new_session_id(client: TestClient) -> None:
    planted = "attacker-chosen-session-id-0123456789abcdef"
    plant(client, "grade_session", planted)
    token = form_token(client.get("/login").text)
    login(client)
    first = session_cookie(client)
    assert first and first != planted
    assert client.get("/").status_code == 200

    # A second tab still shows the login form: logging in there, as someone else, while logged in.
    plant(client, "grade_login", token, path="/login")
    response = client.post("/login", data={"username": "ingrid", "password": PASSWORD + "!", "csrf_token": token})
    assert response.status_code == 303
    second = session_cookie(client)
    assert second and second not in (first, planted)
    assert "Logged in as <strong>ingrid</strong> (instructor)" in client.get("/").text
    plant(client, "grade_session", first)  # the session it replaced is over
    assert client.get("/").status_code == 303


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil.example", "\\\\evil.example",
                                    "javascript:alert(1)", "evil.example", "/%0d%0aLocation: x", "/\r\nSet-Cookie: x=1",
                                    "/\tx", "///evil.example"])
def test_next_never_leaves_the_site(client: TestClient, target: str) -> None:
    response = login(client, next_=target)
    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith("/") and not location.startswith(("//", "/\\"))
    assert "evil.example" not in location or location.startswith("/%") or location == "/"
    assert "\r" not in location and "\n" not in location


def test_next_is_carried_from_the_page_asked_for(client: TestClient) -> None:
    redirect = client.get(PAGES["student"])
    login_page = client.get(redirect.headers["location"])
    assert f'name="next" value="{PAGES["student"]}"' in login_page.text
    response = client.post("/login", data={"username": "tara", "password": PASSWORD, "next": PAGES["student"],
                                           "csrf_token": form_token(login_page.text)})
    assert response.headers["location"] == PAGES["student"]
    assert client.get(response.headers["location"]).status_code == 200


def login_saying_https(client: TestClient):  # type: ignore[no-untyped-def]
    """A login whose POST arrives with X-Forwarded-Proto: https, as from a TLS-terminating proxy."""
    token = form_token(client.get("/login").text)
    response = client.post("/login", data={"username": "tara", "password": PASSWORD, "csrf_token": token},
                           headers={"X-Forwarded-Proto": "https"})
    assert response.status_code == 303
    return next(c for c in response.headers.get_list("set-cookie") if c.startswith("grade_session="))


def test_a_proxy_user_header_counts_only_when_trusted(db_url: str) -> None:
    with TestClient(create_app(db_url, secure_cookies=False, trust_proxy_header=None), follow_redirects=False) as plain:
        assert plain.get("/", headers={"X-Remote-User": "tara"}).status_code == 303
        assert "Secure" not in login_saying_https(plain)  # X-Forwarded-Proto is not trusted either

    app = create_app(db_url, secure_cookies=False, trust_proxy_header="X-Remote-User")
    with TestClient(app, follow_redirects=False) as proxied:
        page = proxied.get("/", headers={"X-Remote-User": "tara"})
        assert page.status_code == 200 and "Logged in as <strong>tara</strong>" in page.text
        assert proxied.get("/", headers={"X-Remote-User": "nobody"}).status_code == 303  # not an account
        assert proxied.get("/", headers={"X-Other-User": "tara"}).status_code == 303
        # Its forms carry a token too, and a POST without it is refused.
        token = form_token(page.text)
        assert proxied.post("/logout", headers={"X-Remote-User": "tara"}).status_code == 403
        assert proxied.post("/logout", data={"csrf_token": token}, headers={"X-Remote-User": "tara"}).status_code == 303
        assert "Secure" in login_saying_https(proxied)


def test_secure_cookies_when_asked(db_url: str) -> None:
    with TestClient(create_app(db_url, secure_cookies=True, trust_proxy_header=None), follow_redirects=False) as client:
        assert "Secure" in client.get("/login").headers["set-cookie"]
        response = login(client)
        assert all("Secure" in c for c in response.headers.get_list("set-cookie"))


def test_failed_logins_are_limited_per_user_name(client: TestClient) -> None:
    for _ in range(LoginLimits().per_user):
        assert "wrong username or password" in login(client, "tara", "not the password").text
    refused = login(client, "tara", PASSWORD)  # even the right password, while the brake is on
    assert refused.status_code == 429 and "too many failed logins" in refused.text
    assert 0 < int(refused.headers["retry-after"]) <= 15 * 60
    assert session_cookie(client) is None
    assert login(client, "ingrid", PASSWORD + "!").status_code == 303  # another account is not locked


def test_failed_logins_are_limited_per_client(db_url: str) -> None:
    app = create_app(db_url, secure_cookies=False, trust_proxy_header=None,
                     limits=LoginLimits(per_user=100, per_client=3))
    with TestClient(app, follow_redirects=False) as client:
        for name in ("a1", "a2", "a3"):
            assert login(client, name, "guess guess guess").status_code == 200
        assert login(client, "tara", PASSWORD).status_code == 429
    with TestClient(app, follow_redirects=False, client=("10.1.2.3", 5000)) as elsewhere:
        assert login(elsewhere, "tara", PASSWORD).status_code == 303


def test_hostile_names_in_the_login_form_are_escaped(client: TestClient) -> None:
    response = login(client, HOSTILE, "whatever password")
    assert "<script>" not in response.text and "&lt;script&gt;" in response.text
