"""`grade serve`: the report folder over HTTP on 127.0.0.1, for a TA's browser.

Local only: the reports hold every student's grades, so the server never listens on
another address. Files are served read-only from the folder with the standard library.
"""

from __future__ import annotations

import functools
import http.server
from pathlib import Path

import click

from grader.commands.group import console, guard, main
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


@main.command("serve")
@click.option("--reports", "reports_dir", default="reports", show_default=True,
              type=click.Path(file_okay=False, path_type=Path), help="The report folder to serve.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True,
              help="Port on 127.0.0.1 (0: any free port).")
def serve_command(reports_dir: Path, port: int) -> None:
    """Serve the reports on http://127.0.0.1:PORT/ until Ctrl-C."""

    def serve() -> None:
        server = make_server(reports_dir, port)
        console.print(f"serving {reports_dir} on http://{HOST}:{server.server_address[1]}/ (Ctrl-C stops)")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()

    guard(serve)
