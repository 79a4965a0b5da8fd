"""grader/reports/write.py: real rendering into tmp_path, checked with the stdlib HTML parser."""

from __future__ import annotations

import html
import os
from dataclasses import fields
from datetime import datetime, timezone
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from jinja2 import meta

from grader.reports import write as report
# Aliased so pytest does not try to collect the dataclass as a test class.
from grader.models import CellError, Execution, Figure, Grade, Signal, SignalKind, Status
from grader.models import TestResult as Result
from tests.factories import make_fingerprint, make_grade, make_model_score, make_test_result

GOLDEN = Path(__file__).parent / "golden"
WHEN = datetime(2026, 1, 15, 9, 30, tzinfo=timezone.utc)
FP = make_fingerprint(submission_hash="sub" * 4, tests_hash="tests" * 3, reference_hash="ref" * 4,
                      rubric_hash="rubric" * 2)

SCRIPT_ID = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"


def result(test_id: str, outcome: str, points: float, max_points: float = 2.0, **changes: object) -> Result:
    return make_test_result(test_id, outcome, points=points, max_points=max_points, **changes)


def grade(student: str, assignment: str = "05_attention", *, tests: tuple[Result, ...] = (),
          **changes: object) -> Grade:
    """No tests unless given (4 points possible then); the score is what the tests earned."""
    return make_grade(student, assignment, fingerprint=FP, tests=tests,
                      max_score=sum(t.max_points for t in tests) or 4.0, **changes)


def class_grades() -> list[Grade]:
    """Four students, two assignments, every status, some tests failed."""
    mlp_run = Execution(
        Status.GRADED,
        cell_errors=(CellError(7, "NameError", "name 'attn' is not defined"),),
        output_excerpt="epoch 1 loss 0.69\n",
        # a 1x1 PNG (what matplotlib's Agg backend sends, only smaller) and an SVG: both only as <img>
        figures=(Figure(3, "image/png", "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGD4DwABBAEAwS2OUAAAAABJRU5ErkJggg=="),
                 Figure(4, "image/svg+xml", "PHN2ZyB4bWxucz0iaHR0cDovL3d3dy53My5vcmcvMjAwMC9zdmciLz4=")),
    )
    return [
        grade("alice", tests=(result("test_scores", "passed", 2), result("test_mask", "passed", 2))),
        grade(
            "bob",
            tests=(
                result("test_scores", "passed", 2),
                result("test_mask", "failed", 0, message="masked positions got weight 0.25"),
            ),
        ),
        grade("carol", tests=(result("test_scores", "failed", 0), result("test_mask", "error", 0))),
        grade(
            "alice",
            "01_mlp",
            tests=(
                result("test_forward", "passed", 1.5, 1.5, part="MLP"),
                result("test_backprop", "failed", 0, 2.5, part="Backprop"),
            ),
            execution=mlp_run,
        ),
        grade(
            "bob",
            "01_mlp",
            status=Status.TIMEOUT,
            message="ran past 600 s",
            execution=Execution(Status.TIMEOUT, message="killed after 600 s"),
        ),
        grade("carol", "01_mlp", status=Status.MISSING, message="no notebook handed in"),
        grade("dave", "01_mlp", status=Status.REJECTED, message="notebook is not valid JSON"),
        grade(
            "dave",
            status=Status.ERROR,
            message="kernel died: out of memory",
            execution=Execution(Status.ERROR, sandboxed=False),
        ),
    ]


class Page(HTMLParser):
    """Start tags, links and ids of one HTML page, and its text as a browser shows it."""

    def __init__(self, path: Path) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.links: list[str] = []
        self.ids: set[str] = set()
        self.text: list[str] = []
        self.attributes: set[str] = set()
        self.raw = path.read_text("utf-8")
        self.feed(self.raw)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            self.attributes.add(name)
            if name in ("href", "src", "action") and value is not None:
                self.links.append(value)
            if name == "id" and value is not None:
                self.ids.add(value)

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    @property
    def body(self) -> str:
        return "".join(self.text)


def pages(out: Path) -> list[Path]:
    return sorted(out.rglob("*.html"))


def table_rows(page: Page, section_id: str) -> list[list[str]]:
    """The cell texts of each row of the first table inside the element with section_id."""

    class Rows(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.depth, self.rows, self.cell = 0, [], None

        def handle_starttag(self, tag, attrs):
            if dict(attrs).get("id") == section_id:
                self.depth = 1
            elif self.depth and tag == "tr":
                self.rows.append([])
            elif self.depth and tag in ("td", "th"):
                self.cell = []

        def handle_endtag(self, tag):
            if self.depth and tag in ("td", "th") and self.cell is not None:
                self.rows[-1].append(" ".join("".join(self.cell).split()))
                self.cell = None
            elif self.depth and tag == "section":
                self.depth = 0

        def handle_data(self, data):
            if self.cell is not None:
                self.cell.append(data)

    parser = Rows()
    parser.feed(page.raw)
    return parser.rows


def test_writes_index_student_pages_and_stylesheet(tmp_path: Path) -> None:
    index = report.write_reports(class_grades(), tmp_path / "out", title="Week 3", generated_at=WHEN)

    assert index == tmp_path / "out" / "index.html"
    assert (tmp_path / "out" / "static" / "style.css").read_text().strip()
    students = sorted(p.name for p in (tmp_path / "out" / "students").iterdir())
    assert students == sorted(report.page_name(s) for s in ("alice", "bob", "carol", "dave"))
    page = Page(index)
    assert "Week 3" in page.body and "2026-01-15 09:30 UTC" in page.body
    assert not list((tmp_path / "out").rglob("*.tmp"))


def test_every_relative_link_resolves_to_a_file_and_anchor(tmp_path: Path) -> None:
    out = tmp_path / "out"
    report.write_reports(class_grades(), out, generated_at=WHEN)

    checked = 0
    for path in pages(out):
        for link in Page(path).links:
            if link.startswith(("data:image/png;base64,", "data:image/svg+xml;base64,")):
                continue  # a figure the notebook drew, embedded: not a link
            parts = urlsplit(link)
            assert not parts.scheme and not parts.netloc and not link.startswith("/"), f"{path.name}: {link}"
            target = (path.parent / unquote(parts.path)).resolve() if parts.path else path
            assert target.is_file(), f"{path.name} links to missing {link}"
            assert target.is_relative_to(out.resolve())
            if parts.fragment:
                assert parts.fragment in Page(target).ids, f"{path.name}: {link} has no target"
            checked += 1
    assert checked > 20


def test_index_links_each_student_and_students_link_back(tmp_path: Path) -> None:
    out = tmp_path / "out"
    report.write_reports(class_grades(), out, generated_at=WHEN)

    index_links = set(Page(out / "index.html").links)
    for path in (out / "students").iterdir():
        assert f"students/{path.name}" in index_links
        student = Page(path)
        assert "../index.html" in student.links and "../static/style.css" in student.links


def test_hostile_student_data_is_only_ever_escaped(tmp_path: Path) -> None:
    hostile = grade(
        SCRIPT_ID,
        tests=(result(IMG, "failed", 0, part=IMG, message=f"expected {IMG}",
                      signals=(Signal(SignalKind.FAKE_RESULT, IMG),)),),
        execution=Execution(
            Status.GRADED,
            message=SCRIPT_ID,
            cell_errors=(CellError(3, IMG, SCRIPT_ID),),
            output_excerpt=f"{IMG}\n</pre>{SCRIPT_ID}",
            signals=(Signal(SignalKind.ESCAPE, f"Permission denied {SCRIPT_ID}"),),
        ),
        message=f'"><svg onload=alert(1)>{IMG}',
        model_score=make_model_score(architecture=IMG, device=SCRIPT_ID, labels=(IMG, SCRIPT_ID)),
    )
    out = tmp_path / "out"
    report.write_reports([hostile, grade("alice")], out, title=SCRIPT_ID, generated_at=WHEN)

    for path in pages(out):
        page = Page(path)
        assert not {"script", "img"} & set(page.tags), path.name
        assert not {a for a in page.attributes if a.startswith("on")}, path.name  # no event handlers
        lowered = page.raw.lower()
        assert "<script" not in lowered and "<img" not in lowered
        # The one <svg> is the index's score chart, which the report draws itself.
        assert lowered.count("<svg") == page.tags.count("svg") == (path.name == "index.html"), path.name
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.raw
        assert SCRIPT_ID in page.body  # shown to the reader as text
    student = Page(out / "students" / report.page_name(SCRIPT_ID))
    assert IMG in student.body and f"{IMG}\n</pre>{SCRIPT_ID}" in student.body


@pytest.mark.parametrize(
    "student",
    ["../../etc/passwd", "a/b", "..", ".", "", "/abs/path", "a\\b", "con", "sp ace", "ünïcødé 学生", "x" * 300, "\udcff"],
)
def test_hostile_ids_produce_files_inside_out_dir(tmp_path: Path, student: str) -> None:
    out = tmp_path / "out"
    report.write_reports([grade(student)], out, generated_at=WHEN)

    (page,) = (out / "students").iterdir()
    assert page.resolve().parent == (out / "students").resolve()
    assert page.name == report.page_name(student)
    assert not page.name.startswith(".")
    assert {p.resolve() for p in tmp_path.rglob("*") if p.is_file()} <= {p.resolve() for p in out.rglob("*")}


def test_ids_that_slug_alike_get_different_pages(tmp_path: Path) -> None:
    ids = ["a/b", "a_b", "a b", "A_B", "a\\b", "a_b "]
    out = tmp_path / "out"
    report.write_reports([grade(s) for s in ids], out, generated_at=WHEN)

    names = {report.page_name(s) for s in ids}
    assert len(names) == len(ids)
    assert len({n.casefold() for n in names}) == len(ids)  # also apart on a case-insensitive disk
    assert {p.name for p in (out / "students").iterdir()} == names


def test_pass_rates_per_test_per_assignment(tmp_path: Path) -> None:
    context = report.index_context(class_grades(), title="t", generated_at="now")

    rates = {(r.assignment, r.test_id): (r.passed, r.total, r.percent) for r in context.pass_rates}
    assert rates == {
        ("01_mlp", "test_forward"): (1, 1, 100),
        ("01_mlp", "test_backprop"): (0, 1, 0),
        ("05_attention", "test_scores"): (2, 3, 67),
        ("05_attention", "test_mask"): (1, 3, 33),
    }
    out = tmp_path / "out"
    report.write_reports(class_grades(), out, generated_at=WHEN)
    rows = table_rows(Page(out / "index.html"), "pass-rates")
    assert ["05_attention", "Attention", "test_scores", "2/3", "67%"] in rows
    assert ["05_attention", "Attention", "test_mask", "1/3", "33%"] in rows
    assert 'style="width: 67%"' in (out / "index.html").read_text()


def test_percent_is_never_rounded_to_all_or_none() -> None:
    assert report._percent(199, 200) == 99
    assert report._percent(1, 300) == 1
    assert (report._percent(0, 5), report._percent(5, 5), report._percent(1, 2)) == (0, 100, 50)


def test_status_counts_and_class_table(tmp_path: Path) -> None:
    out = tmp_path / "out"
    report.write_reports(class_grades(), out, generated_at=WHEN)
    page = Page(out / "index.html")

    counts = table_rows(page, "statuses")
    assert counts[0] == ["Assignment", "graded", "error", "timeout", "rejected", "missing"]
    assert ["01_mlp", "1", "0", "1", "1", "1"] in counts
    assert ["05_attention", "3", "1", "0", "0", "0"] in counts
    assert counts[-1] == ["All", "4", "1", "1", "1", "1"]

    table = table_rows(page, "class")
    assert table[0] == ["Student", "01_mlp", "05_attention", "Total"]
    assert table[1] == ["alice", "1.5 / 4 graded", "4 / 4 graded", "5.5 / 8"]
    assert table[2] == ["bob", "0 / 4 timeout", "2 / 4 graded", "2 / 8"]


def test_a_grade_that_does_not_exist_is_an_empty_cell(tmp_path: Path) -> None:
    out = tmp_path / "out"
    report.write_reports([grade("alice"), grade("alice", "01_mlp"), grade("bob")], out, generated_at=WHEN)

    table = table_rows(Page(out / "index.html"), "class")
    assert table[2] == ["bob", "—", "0 / 4 graded", "0 / 4"]


def test_student_page_shows_errors_tests_and_output(tmp_path: Path) -> None:
    out = tmp_path / "out"
    report.write_reports(class_grades(), out, generated_at=WHEN)

    alice = Page(out / "students" / report.page_name("alice"))
    mlp = table_rows(alice, report._anchor("01_mlp"))
    assert ["7", "NameError", "name 'attn' is not defined"] in mlp
    assert ["Backprop", "test_backprop", "failed", "0 / 2.5", ""] in mlp
    assert "epoch 1 loss 0.69" in alice.body
    bob = Page(out / "students" / report.page_name("bob"))
    assert "masked positions got weight 0.25" in bob.body and "killed after 600 s" in bob.body
    assert "without the sandbox" in Page(out / "students" / report.page_name("dave")).body
    assert "without the sandbox" not in bob.body


def test_long_output_is_truncated_with_a_note(tmp_path: Path) -> None:
    output = "HEAD" + "x" * 50_000 + "Traceback: the end"
    out = tmp_path / "out"
    ran = Execution(Status.GRADED, output_excerpt=output)
    report.write_reports([grade("alice", execution=ran)], out, generated_at=WHEN)

    page = Page(out / "students" / report.page_name("alice"))
    assert "truncated" in page.body.lower()
    excerpt = html.unescape(page.raw.split('<pre class="output">')[1].split("</pre>")[0])
    assert report.EXCERPT_LIMIT <= len(excerpt) <= report.EXCERPT_LIMIT + 100
    assert excerpt.startswith("HEAD") and excerpt.endswith("Traceback: the end")  # both ends survive
    assert len(page.raw) < 20_000


def test_terminal_noise_in_output_is_cleaned(tmp_path: Path) -> None:
    output = "\x1b[0;31mValueError\x1b[0m: bad\x00shape\udcff"
    out = tmp_path / "out"
    ran = Execution(Status.GRADED, output_excerpt=output)
    report.write_reports([grade("alice", execution=ran)], out, generated_at=WHEN)

    body = Page(out / "students" / report.page_name("alice")).body
    assert "ValueError: bad\ufffdshape\\udcff" in body and "\x1b" not in body


@pytest.mark.parametrize(
    ("template", "context"), [("index.html", report.IndexContext), ("student.html", report.StudentPageContext)]
)
def test_templates_use_exactly_their_context_keys(template: str, context: type) -> None:
    env = report.environment()

    def used(name: str) -> set[str]:
        ast = env.parse(env.loader.get_source(env, name)[0])
        names = set(meta.find_undeclared_variables(ast))
        for parent in meta.find_referenced_templates(ast):
            assert parent is not None, f"{name} includes a template chosen at run time"
            names |= used(parent)
        return names

    assert used(template) == {f.name for f in fields(context)}


def test_autoescape_is_on_for_every_template() -> None:
    env = report.environment()
    names = env.list_templates(extensions=["html"])
    assert {"base.html", "index.html", "student.html"} <= set(names)
    for name in names:
        assert env.autoescape is True or env.autoescape(name)


def test_render_failure_leaves_the_previous_report_whole(tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "out"
    report.write_reports(class_grades(), out, generated_at=WHEN)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}

    real = report._render
    calls = []

    def fail_late(env, template, context):
        calls.append(template)
        if len(calls) == 3:
            raise RuntimeError("boom")
        return real(env, template, context)

    monkeypatch.setattr(report, "_render", fail_late)
    with pytest.raises(RuntimeError):
        report.write_reports(class_grades()[:2], out, title="new", generated_at=WHEN)
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_pages_of_students_no_longer_graded_are_removed_and_nothing_else(tmp_path: Path) -> None:
    out = tmp_path / "out"
    report.write_reports([grade("alice"), grade("bob")], out, generated_at=WHEN)
    (out / "students" / "notes.html").write_text("mine")
    report.write_reports([grade("alice")], out, generated_at=WHEN)

    assert {p.name for p in (out / "students").iterdir()} == {report.page_name("alice"), "notes.html"}


def test_pages_are_readable_by_others_like_any_file_the_user_writes(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        index = report.write_reports([grade("alice")], tmp_path / "out", generated_at=WHEN)
    finally:
        os.umask(old)
    assert index.stat().st_mode & 0o777 == 0o644


def test_two_grades_for_one_student_and_assignment_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="one grade per"):
        report.write_reports([grade("alice"), grade("alice")], tmp_path, generated_at=WHEN)
    assert not (tmp_path / "index.html").exists()


def test_no_grades_gives_an_empty_index(tmp_path: Path) -> None:
    index = report.write_reports([], tmp_path / "out", generated_at=WHEN)
    assert "No grades yet." in Page(index).body


def test_generated_at_defaults_to_now(tmp_path: Path) -> None:
    index = report.write_reports([grade("alice")], tmp_path / "out")
    assert datetime.now(timezone.utc).strftime("%Y-%m-%d") in Page(index).body


@pytest.mark.parametrize("name", ["index.html", "student.html"])
def test_report_matches_golden_file(tmp_path: Path, name: str) -> None:
    """Reviewed like code; regenerate with GRADER_UPDATE_GOLDEN=1 after an intended change."""
    out = tmp_path / "out"
    report.write_reports(class_grades(), out, title="Week 3", generated_at=WHEN)
    page = out / "index.html" if name == "index.html" else out / "students" / report.page_name("alice")
    rendered = page.read_text("utf-8")

    golden = GOLDEN / f"report_{name}"
    if os.environ.get("GRADER_UPDATE_GOLDEN"):
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(rendered, "utf-8")
    assert rendered == golden.read_text("utf-8")
