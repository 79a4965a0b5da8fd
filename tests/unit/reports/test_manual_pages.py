"""Manual parts on the pages and in the exports: points, applied items, the TA's comment, and
"awaiting manual grading" until every written answer is graded; the student's answer stays inert."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import pytest

from grader.export import export_records, gradescope_results, write_canvas, write_export
from grader.reports import write as report
from grader.reports.terminal import awaiting_line, matrix
from tests.factories import make_graded_manual, make_manual_grade_of
from tests.unit.reports.test_write import WHEN, Page

GOLDEN = Path(__file__).parent / "golden"
HOSTILE = "<script>alert('x')</script> and <img src=x onerror=alert(1)>"


def two_parts() -> tuple:
    """alice: both parts graded (items, an adjustment, a comment); bob: one graded, one answered and awaiting."""
    answers = {"why_scale": HOSTILE, "why_freeze": "Keeps the pre-trained features."}
    alice = make_graded_manual(make_graded_manual(make_manual_grade_of("alice", answers=answers),
                                                  items=("variance", "saturation"), adjustment=-0.5,
                                                  comment="Nice argument; state the variance."),
                               answer="why_freeze", items=("variance",), comment="")
    bob = make_graded_manual(make_manual_grade_of("bob", answers={**answers, "why_scale": "Softmax gets peaky."}), answer="why_freeze",
                             items=(), comment="No answer.")
    return alice, bob


def test_the_read_model_adds_graded_points_and_awaits_the_rest() -> None:
    alice, bob = two_parts()
    assert alice.score == 5.0 + 3.5 + 2.0 and alice.max_score == 13.0 and not alice.awaiting_manual
    assert bob.score == 5.0 and bob.awaiting_manual and bob.manual_points == 0.0


def test_a_part_left_unanswered_counts_zero_and_awaits_nobody(tmp_path: Path) -> None:
    carol = make_manual_grade_of("carol", answers={"why_scale": None, "why_freeze": None})
    assert carol.score == 5.0 and carol.max_score == 13.0 and not carol.awaiting_manual
    assert export_records([carol])[0]["awaiting_manual"] is False
    report.write_reports([carol], tmp_path, title="Week 3", generated_at=WHEN)
    page = Page(tmp_path / "students" / report.page_name("carol"))
    assert "no answer handed in: 0 points" in page.body and "awaiting manual grading" not in page.body


def test_the_student_page_shows_items_comment_answer_escaped_and_what_awaits(tmp_path: Path) -> None:
    alice, bob = two_parts()
    report.write_reports([alice, bob], tmp_path, title="Week 3", generated_at=WHEN)
    page = Page(tmp_path / "students" / report.page_name("alice"))
    assert "Dot products of d_k-dim vectors have variance d_k" in page.body and "Nice argument" in page.body
    assert "3.5 / 4" in page.body and "−0.5 points" in page.body and "tom, 2026-12-03 10:20 UTC" in page.body
    assert "<script>" not in page.raw and "<img src=x" not in page.raw and "&lt;script&gt;" in page.raw
    assert "script" not in page.tags and page.tags.count("img") == 0
    bob_page = Page(tmp_path / "students" / report.page_name("bob"))
    assert "awaiting manual grading" in bob_page.body and "Softmax gets peaky." in bob_page.body
    index = Page(tmp_path / "index.html")
    assert index.body.count("awaiting manual grading") == 1  # bob's cell only

    rendered = (tmp_path / "students" / report.page_name("alice")).read_text("utf-8")
    section = rendered[rendered.index("<h3>Written answers"):rendered.index("<details class=\"fingerprint\">")]
    golden = GOLDEN / "report_student_manual.html"
    if os.environ.get("GRADER_UPDATE_GOLDEN"):
        golden.write_text(section, "utf-8")
    assert section == golden.read_text("utf-8")


def test_the_feedback_page_shows_points_items_and_comment_but_not_the_answer(tmp_path: Path) -> None:
    alice, bob = two_parts()
    report.write_feedback([alice, bob], tmp_path, title="Week 3", generated_at=WHEN)
    page = Page(tmp_path / report.page_name("alice"))
    assert "Written answers" in page.body and "Large logits saturate the softmax" in page.body
    assert "Nice argument; state the variance." in page.body and "3.5 / 4" in page.body
    assert "alert" not in page.raw  # the student's own answer is not repeated to them
    bob_page = Page(tmp_path / report.page_name("bob"))
    assert "awaiting manual grading" in bob_page.body and "No answer." in bob_page.body


def test_csv_and_json_exports_carry_manual_points_items_and_comments() -> None:
    alice, bob = two_parts()
    records = export_records([alice, bob])
    assert (records[0]["manual_points"], records[0]["awaiting_manual"]) == (5.5, False)
    assert (records[1]["manual_points"], records[1]["awaiting_manual"]) == (0.0, True)
    scale = records[0]["manual"][0]
    assert (scale["part"], scale["points"], scale["max_points"], scale["comment"]) == (
        "why_scale", 3.5, 4.0, "Nice argument; state the variance.")
    assert [i["id"] for i in scale["items"]] == ["variance", "saturation"] and scale["adjustment"] == -0.5
    assert records[1]["manual"][0]["awaiting_manual"] and records[1]["manual"][0]["points"] is None

    stream = io.StringIO()
    write_export(records, "json", stream)
    assert json.loads(stream.getvalue())[0]["manual"][1]["points"] == 2.0
    stream = io.StringIO()
    write_export(records, "csv", stream)
    rows = list(csv.DictReader(io.StringIO(stream.getvalue())))
    assert rows[0]["manual_points"] == "5.5" and rows[1]["awaiting_manual"] == "True"
    assert rows[0]["manual"].startswith("Why scale by sqrt(d_k)?: 3.5/4 [Dot products")
    assert "“Nice argument; state the variance.”" in rows[0]["manual"]
    assert "awaiting manual grading" in rows[1]["manual"]
    golden = GOLDEN / "export_manual.csv"
    if os.environ.get("GRADER_UPDATE_GOLDEN"):
        golden.write_text(stream.getvalue(), "utf-8")
    assert stream.getvalue() == golden.read_text("utf-8")


def test_lms_files_take_the_score_with_manual_points_and_gradescope_a_test_per_part() -> None:
    alice, bob = two_parts()
    stream = io.StringIO()
    write_canvas([alice, bob], stream)
    rows = list(csv.reader(io.StringIO(stream.getvalue())))
    assert rows[1][-1] == "13" and rows[2][-1] == "10.5" and rows[3][-1] == "5"

    results = gradescope_results(alice)
    assert results["score"] == 10.5 and results["extra_data"]["manual_points"] == 5.5
    manual = [t for t in results["tests"] if t["tags"] == ["manual"]]
    assert [(t["name"], t["score"], t["max_score"]) for t in manual] == [
        ("Why scale by sqrt(d_k)?", 3.5, 4.0), ("Why scale by sqrt(d_k)?", 2.0, 4.0)]
    assert "+2: Dot products" in manual[0]["output"] and "Nice argument" in manual[0]["output"]
    waiting = gradescope_results(bob)
    assert "awaiting manual grading" in waiting["output"]
    assert [t["output"] for t in waiting["tests"] if t["tags"] == ["manual"]][0] == "awaiting manual grading"


@pytest.mark.parametrize("awaiting", [True, False])
def test_the_terminal_table_marks_a_score_awaiting_manual_grading(awaiting: bool) -> None:
    alice, bob = two_parts()
    grades = [bob if awaiting else alice]
    (_, cells), = matrix(grades).rows
    assert cells[0].text.endswith("*") is awaiting
    assert ("1 written answer(s) in 1 result(s)" in awaiting_line(grades)) is awaiting
