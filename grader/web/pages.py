"""The report's pages, from the gradebook, at the static report's paths: "/" and /index.html,
/students/<page>.html, /tests/<page>.html, /runs/run-<id>.html, /static/style.css.

Serving the same relative paths is what lets the report's links (students/x.html,
../index.html, ../static/style.css) work unchanged. Only a logged-in visitor gets here
(auth.RequireLogin); a path the report does not have is a 404.
"""

from __future__ import annotations

from importlib import resources

from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response

from grader.reports.site import INDEX, PAGE_NAME, RUN_PAGE
from grader.reports.write import stylesheet as report_stylesheet
from grader.web.rendering import with_session
from grader.web.state import web_state

FOLDERS = {"students": PAGE_NAME, "tests": PAGE_NAME, "runs": RUN_PAGE}


def overview(request: Request) -> Response:
    return _page(request, INDEX)


def folder_page(request: Request) -> Response:
    """/students/<page>, /tests/<page>, /runs/<page>: names as the report writes them, nothing else."""
    folder, page = request.path_params["folder"], request.path_params["page"]
    pattern = FOLDERS.get(folder)
    if pattern is None or not pattern.match(page):
        return _not_found()
    return _page(request, f"{folder}/{page}")


def stylesheet(request: Request) -> Response:
    """The report's stylesheet and the app's own (grader/web/static/app.css) after it."""
    return Response(report_stylesheet() + "\n" + _static("app.css"), media_type="text/css")


def grading_script(request: Request) -> Response:
    return Response(_static("grading.js"), media_type="text/javascript")


def _static(name: str) -> str:
    return (resources.files("grader.web") / "static" / name).read_text("utf-8")


def favicon(request: Request) -> Response:
    return Response(status_code=204)  # none; answered so a browser's own request for it costs nothing


def _page(request: Request, path: str) -> Response:
    web = web_state(request)
    html = web.sites.rendered(web.sites.current(), path, web.env)
    if html is None:
        return _not_found()
    return HTMLResponse(with_session(web.env, html, request.state.visitor))


def _not_found() -> Response:
    return PlainTextResponse("404: no such page in this gradebook's report\n", status_code=404)
