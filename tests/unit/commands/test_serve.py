"""`grade serve`: the web app when the gradebook has accounts, the static reports (loopback only)
when it has none. Run for real in a second process, on a free port."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import Message
from pathlib import Path

from click.testing import CliRunner

from grader.cli import main
from grader.reports.write import write_reports
from grader.store.gradebook import Gradebook
from tests.conftest import REPO, requires_runnable_interpreter
from tests.factories import make_grade


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return None


@contextmanager
def serving(*args: str, cwd: Path) -> Iterator[tuple[str, list[str]]]:
    """`grade serve ARGS` in a second process; yields its base URL and what it printed first."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "400"}
    process = subprocess.Popen([sys.executable, "-c", "from grader.cli import main; main()", "serve", *args],
                               cwd=cwd, env=env, stderr=subprocess.PIPE, text=True)
    printed: list[str] = []
    try:
        assert process.stderr is not None
        for line in process.stderr:
            printed.append(line)
            found = re.search(r"http://127\.0\.0\.1:[0-9]+/", line)
            if found:
                printed.append(process.stderr.readline())
                yield found.group(0), printed
                break
        else:
            raise AssertionError("".join(printed))
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def fetch(url: str) -> tuple[int, str, Message]:
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(url, timeout=10) as response:
            return response.status, response.read().decode(), response.headers
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(), error.headers


def test_without_accounts_another_host_is_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["serve", "--db", str(tmp_path / "grade.db"), "--host", "0.0.0.0"])
    assert result.exit_code == 1
    assert "refusing to serve on 0.0.0.0" in result.output and "grade users add" in result.output
    assert not (tmp_path / "grade.db").exists()


@requires_runnable_interpreter
def test_without_accounts_it_serves_the_static_reports_as_before(tmp_path: Path) -> None:
    write_reports([make_grade("alice")], tmp_path / "reports")
    with serving("--reports", "reports", "--port", "0", cwd=tmp_path) as (url, printed):
        status, body, headers = fetch(url + "index.html")
        assert status == 200 and "alice" in body and "script-src 'none'" in headers["Content-Security-Policy"]
    assert "no accounts in grade.db" in "".join(printed) and "grade users add" in "".join(printed)
    assert not (tmp_path / "grade.db").exists()


@requires_runnable_interpreter
def test_with_accounts_it_serves_the_web_app_behind_a_login(tmp_path: Path) -> None:
    with Gradebook(tmp_path / "grade.db") as book:
        book.record(book.start_run({}), make_grade("alice"))
        book.accounts.add_user("tara", "ta", "correct horse battery")
    with serving("--port", "0", cwd=tmp_path) as (url, printed):
        assert "serving the web app for grade.db" in "".join(printed)
        status, body, headers = fetch(url)
        assert status == 303 and headers["Location"] == "/login?next=%2F" and "alice" not in body
        status, body, headers = fetch(url + "login")
        assert status == 200 and 'name="password"' in body and "frame-ancestors 'none'" in headers["Content-Security-Policy"]
