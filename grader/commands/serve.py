"""`grade serve`: the web app (grader/web) when the gradebook has accounts; otherwise the
report folder over HTTP on 127.0.0.1, as before.

Without accounts nothing stands between the address and every student's grades, so the
static server listens on loopback only and another --host is refused. Files are served
read-only from the folder with the standard library.
"""

from __future__ import annotations

import functools
import http.server
from pathlib import Path

import click

from grader.commands.group import console, course_option, course_title, guard, main, title_option
from grader.errors import GradeError

HOST = "127.0.0.1"


class ReportHandler(http.server.SimpleHTTPRequestHandler):
    """Static files with the same no-script policy the pages carry, and no directory listings."""

    def end_headers(self) -> None:
        self.send_header("Content-Security-Policy", "script-src 'none'; object-src 'none'; base-uri 'none'")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def list_directory(self, path):  # type: ignore[no-untyped-def]
        self.send_error(404, "No listing")
        return None

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's name
        pass


def make_server(reports_dir: Path, port: int = 0) -> http.server.ThreadingHTTPServer:
    """A server for reports_dir on 127.0.0.1 (port 0: any free port); call serve_forever()."""
    if not (reports_dir / "index.html").is_file():
        raise GradeError(f"no report in {reports_dir}: run `grade PATH` or `grade report` first")
    handler = functools.partial(ReportHandler, directory=str(reports_dir.resolve()))
    try:
        return http.server.ThreadingHTTPServer((HOST, port), handler)
    except OSError as error:
        raise GradeError(f"cannot listen on {HOST}:{port}: {error}; pick another --port") from error


LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def count_accounts(db: str) -> int:
    """How many accounts the gradebook at `db` has; 0 where there is no gradebook (none is made)."""
    from grader.store.gradebook import Gradebook

    if "://" not in db and not Path(db).exists():
        return 0
    with Gradebook(db) as book:
        return book.accounts.count()


@main.command("serve")
@click.option("--reports", "reports_dir", default="reports", show_default=True,
              type=click.Path(file_okay=False, path_type=Path),
              help="The report folder to serve when the gradebook has no accounts.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True,
              help="Port to listen on (0: any free port).")
@click.option("--db", default="grade.db", show_default=True, help="SQLite file or SQLAlchemy URL.")
@click.option("--host", default=HOST, show_default=True,
              help="Address to listen on; anything but loopback needs accounts (`grade users add`).")
@click.option("--secure-cookies", is_flag=True,
              help="Mark cookies Secure: the app is reached over HTTPS through a proxy.")
@click.option("--trust-proxy-header", metavar="HEADER", default=None,
              help="Log in whoever a reverse proxy names in HEADER (e.g. X-Remote-User), if they have an "
                   "account. Only behind a proxy that sets it and strips it from clients.")
@title_option
@course_option
def serve_command(reports_dir: Path, port: int, db: str, host: str, secure_cookies: bool,
                  trust_proxy_header: str | None, title: str | None, course_dir: Path) -> None:
    """With accounts in the gradebook: the web app (login, the class's pages, grading written answers) on http://HOST:PORT/.
    Without: the static reports on http://127.0.0.1:PORT/, as before. Ctrl-C stops."""

    def serve() -> None:
        if count_accounts(db):
            serve_app()
        else:
            serve_static()

    def serve_app() -> None:
        from grader.web.app import create_app
        from grader.web.server import listen, serve as run_app

        app = create_app(db, secure_cookies=secure_cookies, trust_proxy_header=trust_proxy_header,
                         title=course_title(course_dir, title))
        sock = listen(host, port)
        shown = f"[{host}]" if ":" in host else host
        console.print(f"serving the web app for {db} on http://{shown}:{sock.getsockname()[1]}/ (Ctrl-C stops)")
        if host not in LOOPBACK and not secure_cookies:
            console.print("[yellow]warning:[/] plain HTTP on a network address: passwords and session cookies "
                          "cross the network in clear; put an HTTPS proxy in front and pass --secure-cookies")
        run_app(app, sock)

    def serve_static() -> None:
        if host not in LOOPBACK:
            raise GradeError(
                f"refusing to serve on {host}: {db} has no accounts, so anyone who can reach the address "
                f"would read every grade; add one with `grade users add NAME --role ta --db {db}` "
                "(then `grade serve` asks for a login), or leave --host out to serve on 127.0.0.1 only"
            )
        server = make_server(reports_dir, port)
        console.print(f"serving {reports_dir} on http://{HOST}:{server.server_address[1]}/ (Ctrl-C stops)")
        console.print(f"no accounts in {db}: static reports, this machine only. For the web app with a login, "
                      f"add an account: `grade users add NAME --role ta --db {db}`")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()

    guard(serve)
