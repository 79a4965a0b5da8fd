"""The per-test, per-run and feedback pages, tamper signals, homework metrics, `grade serve`,
and that every template uses exactly the keys of the context it is fed."""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from dataclasses import fields, replace
from datetime import datetime, timezone
from pathlib import Path

import pytest
from jinja2 import meta

from grader import models as m
from grader.reports import write as report
from grader.commands.serve import make_server
from grader.errors import GradeError
from grader.reports.write import TEMPLATES, write_feedback, write_reports, write_store_reports
from grader.reports.signals import ESCAPE, FAKE_OUTPUT, KILLED, PATCHED, tamper_signals
from grader.reports.text import run_page, page_of_test
from grader.store.gradebook import Gradebook
from tests.factories import make_fingerprint, make_grade, make_model_score, make_test_result
from tests.unit.reports.test_write import Page, table_rows

WHEN = datetime(2026, 1, 15, 9, 30, tzinfo=timezone.utc)
FP = make_fingerprint(submission_hash="sub-1")


def grade(student: str, mask: str = "passed", *, message: str = "", **changes: object) -> m.Grade:
    """test_scores passed (2 points); test_mask's outcome is `mask` (3 points if passed), with `message`."""
    tests = (make_test_result("test_scores"), make_test_result("test_mask", mask, max_points=3.0, message=message))
    return make_grade(student, "05_attention", **{"fingerprint": FP, "tests": tests, **changes})


@pytest.mark.parametrize("template", sorted(TEMPLATES.values()))
def test_every_template_uses_exactly_its_context_keys(template: str) -> None:
    env = report.environment()
    context = next(c for c, t in TEMPLATES.items() if t == template)

    def used(name: str) -> set[str]:
        ast = env.parse(env.loader.get_source(env, name)[0])
        names = set(meta.find_undeclared_variables(ast))
        for parent in meta.find_referenced_templates(ast):
            assert parent is not None
            names |= used(parent)
        return names

    assert used(template) == {f.name for f in fields(context)}
    partials = {name for name in env.list_templates(extensions=["html"]) if name.startswith("_")}  # macros
    assert set(TEMPLATES.values()) | {"base.html"} | partials == set(env.list_templates(extensions=["html"]))


def test_test_page_groups_failures_by_message(tmp_path: Path) -> None:
    grades = [grade("alice"), grade("bob", "failed", message="weight 0.25 on a masked key"),
              grade("carol", "failed", message="weight 0.25 on a masked key"), grade("dan", "error", message="boom")]
    write_reports(grades, tmp_path, generated_at=WHEN)

    page = Page(tmp_path / page_of_test("05_attention", "test_mask"))
    assert "1 / 4 (25%)" in page.body
    text = " ".join(page.body.split())
    assert text.index("2 × weight 0.25 on a masked key") < text.index("1 × boom")  # most common first
    assert "../students/" in " ".join(page.links) and "../index.html" in page.links
    index = Page(tmp_path / "index.html")
    assert page_of_test("05_attention", "test_mask") in index.links


def test_run_pages_show_new_regraded_resubmitted_and_changed_scores(tmp_path: Path) -> None:
    db = tmp_path / "g.db"
    with Gradebook(db) as book:
        first = book.start_run({})
        alice = book.record(first, grade("alice", "failed", message="mask"))
        book.record(first, grade("bob"))
        book.finish_run(first)
        second = book.start_run({"force": True})
        # alice: same submission, new tests -> regraded, mask now passes; bob: reused; carol: new.
        book.record(second, grade("alice", fingerprint=replace(FP, tests_hash="tests-2")))
        book.record(second, grade("bob"), reused_from=alice + 1)
        book.record(second, grade("carol"))
        book.finish_run(second)
        third = book.start_run({})
        book.record(third, grade("bob", "failed", fingerprint=replace(FP, submission_hash="sub-2")))
        book.finish_run(third)
        write_store_reports(book, tmp_path / "r")

    out = tmp_path / "r"
    two = Page(out / run_page(second))
    rows = table_rows(two, "changes")
    assert ["alice", "05_attention", "regraded", "2 / 5", "5 / 5", "test_mask: failed 0 → passed 3"] in rows
    assert ["carol", "05_attention", "new", "—", "5 / 5", ""] in rows
    assert not any(r[0] == "bob" for r in rows)
    assert ["Unchanged (reused)", "1"] in table_rows(two, "counts")
    assert ["alice", "05_attention", "regraded", "2 / 5 graded", "5 / 5 graded", "+3"] in table_rows(two, "changed-scores")
    three = Page(out / run_page(third))
    assert ["bob", "05_attention", "resubmitted", "5 / 5 graded", "2 / 5 graded", "-3"] in table_rows(three, "changed-scores")
    assert "run-2.html" in three.links and "run-3.html" in two.links
    assert {run_page(r) for r in (first, second, third)} <= set(Page(out / "index.html").links)


def test_a_runs_changes_are_classified_by_kind_and_printed_as_before() -> None:
    from grader.reports.contexts import ChangeKind
    from grader.reports.runs import run_changes
    from grader.store.gradebook import StoredResult

    history = [StoredResult(1, 1, None, grade("alice")), StoredResult(2, 2, None, grade("alice")),
               StoredResult(3, 3, None, grade("alice", fingerprint=replace(FP, submission_hash="sub-2")))]
    kinds = [row.kind for run in (1, 2, 3) for row in run_changes(history)[run][0]]
    assert kinds == [ChangeKind.NEW, ChangeKind.REGRADED, ChangeKind.RESUBMITTED]
    assert all(type(kind) is ChangeKind for kind in kinds)
    assert [str(kind) for kind in kinds] == ["new", "regraded", "resubmitted"]


def test_tamper_signals_are_worded_from_what_the_stages_recorded() -> None:
    S, K = m.Signal, m.SignalKind
    sneaky = m.Execution(m.Status.GRADED, signals=(
        S(K.ESCAPE, "PermissionError: [Errno 13] Permission denied: '../../grades.json'"),
        S(K.PATCHED, "builtins.print = fake_print"),
        S(K.SUCCESS_CLAIM, "All tests passed! Score: 20/20"),
    ))
    fake = make_test_result("test_mask", "failed", max_points=3.0, signals=(S(K.FAKE_RESULT, "AlwaysEqual"),))
    cheat = grade("kim", execution=sneaky, tests=(make_test_result("test_scores"), fake), score=2.0)

    rows = tamper_signals(cheat)
    assert [r.kind for r in rows] == [ESCAPE, PATCHED, PATCHED, FAKE_OUTPUT]
    assert rows[2].evidence.startswith("1 test(s) got a AlwaysEqual object instead of a tensor, e.g. test_mask")
    assert rows[3].evidence == "All tests passed! Score: 20/20 (graded 2 / 5)"
    # A claim of success is a signal only when the tests disagree.
    assert tamper_signals(replace(grade("ada"), execution=sneaky)) == tamper_signals(cheat)[:2]
    killed = m.Execution(m.Status.ERROR, message="the kernel died while running cell 4: killed (SIGKILL)",
                         signals=(S(K.KILLED, "the kernel died while running cell 4: killed (SIGKILL)"),))
    assert [r.kind for r in tamper_signals(replace(grade("k"), status=m.Status.ERROR, execution=killed))] == [KILLED]


def test_tamper_signals_are_never_guessed_from_message_text() -> None:
    """What a stage did not record is no signal, however the text reads (rows stored before revision 0003)."""
    looks_like = grade("x", "failed", message="returned an AlwaysEqual object, expected a tensor",
                       execution=m.Execution(m.Status.ERROR, message="the kernel died while running cell 4",
                                             output_excerpt="Permission denied\nAll tests passed!\n"))
    assert tamper_signals(looks_like) == ()


def test_homework_metrics_and_confusion_matrix_are_shown(tmp_path: Path) -> None:
    measured = make_model_score(architecture="MiniLMForSequenceClassification")
    write_reports([replace(grade("alice"), assignment="homework", model_score=measured)], tmp_path, generated_at=WHEN)

    page = Page(tmp_path / "students" / report.page_name("alice"))
    rows = table_rows(page, report._anchor("homework"))
    assert ["true \\ predicted", "rotten", "fresh"] in rows and ["rotten", "40", "10"] in rows
    assert "0.8125" in page.body and "macro_f1" in page.body and "MiniLMForSequenceClassification" in page.body
    assert "rotten 0.76, fresh 0.82" in page.body  # per-class F1 named by label
    assert ["homework", "accuracy", "1", "0.8125", "0.8125", "0.8125"] in table_rows(Page(tmp_path / "index.html"),
                                                                                    "assignments")


def test_a_model_that_was_refused_shows_only_what_grading_reached(tmp_path: Path) -> None:
    refused = m.ModelScore(split_hash="a" * 64, n_heldout=100, heldout="scattertext", majority_accuracy=0.6,
                           seconds=0.4)
    write_reports([replace(grade("bob"), assignment="homework", model_score=refused)], tmp_path, generated_at=WHEN)

    page = Page(tmp_path / "students" / report.page_name("bob"))
    assert "majority_accuracy" in page.body and "n_heldout" in page.body
    assert "<dt>accuracy</dt>" not in page.raw and "confusion" not in page.body and "architecture" not in page.body


def test_feedback_pages_hold_messages_and_points_but_no_expected_values(tmp_path: Path) -> None:
    secret = ("the weights: 3 of 12 values differ from the expected ones; the largest error is 0.4 at [0, 1] "
              "(got 0.25, expected 0.6543; shape (2, 3))\ngot:\ntensor([1])\nexpected:\ntensor([0.6543])")
    grades = [grade("alice", "failed", message=secret), grade("<script>bob</script>")]
    pages = write_feedback(grades, tmp_path / "fb", title="Week 3", generated_at=WHEN)

    assert {p.name for p in pages} == {report.page_name("alice"), report.page_name("<script>bob</script>")}
    alice = Page(tmp_path / "fb" / report.page_name("alice"))
    assert "2 / 5" in alice.body and "test_mask" in alice.body and "got 0.25" in alice.body
    assert "0.6543" not in alice.raw and "0.4 at" not in alice.raw and "expected [hidden]" in alice.body
    assert "bob" not in alice.raw  # nothing of another student
    assert "<script" not in (tmp_path / "fb" / report.page_name("<script>bob</script>")).read_text()
    assert (tmp_path / "fb" / "style.css").is_file() and "style.css" in alice.links
    assert (tmp_path / "fb" / "index.csv").read_text().splitlines()[0] == "student,page"


def test_serve_answers_on_loopback_only(tmp_path: Path) -> None:
    write_reports([grade("alice")], tmp_path, generated_at=WHEN)
    server = make_server(tmp_path, 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        assert host == "127.0.0.1"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/index.html", timeout=5) as response:
            assert b"05_attention" in response.read()
            assert "script-src 'none'" in response.headers["Content-Security-Policy"]
        with pytest.raises(urllib.error.HTTPError):  # no directory listings
            urllib.request.urlopen(f"http://127.0.0.1:{port}/students/", timeout=5)
    finally:
        server.shutdown()
        server.server_close()
    with pytest.raises(GradeError, match="no report"):
        make_server(tmp_path / "empty", 0)


def test_a_site_from_the_store_is_the_report_write_store_reports_writes(tmp_path: Path) -> None:
    """store_site reads the history once and takes the latest result per pair from it."""
    from grader.reports.write import environment, render, store_site

    with Gradebook(tmp_path / "g.db") as book:
        first = book.start_run({})
        book.record(first, grade("bob", "failed", message="mask"))
        book.record(first, grade("alice"))
        book.finish_run(first)
        second = book.start_run({})
        book.record(second, grade("bob", fingerprint=replace(FP, submission_hash="sub-2")))
        book.finish_run(second)
        book.add_override("alice", "05_attention", "test_mask", 1.0, reason="late", created_by="ta")
        write_reports(book.latest_grades(), tmp_path / "r", generated_at=WHEN, overrides=book.overrides(),
                      runs=book.runs(), history=book.history())
        site = store_site(book, title="Grade report", generated_at=WHEN)
    env = environment()
    for path in site.paths():
        assert render(env, site.page(path)) == (tmp_path / "r" / path).read_text(), path
    assert len(site.paths()) == 7  # the index, 2 students, 2 tests, 2 runs
