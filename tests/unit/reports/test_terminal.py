"""grader/reports/terminal.py: the matrix and the not-graded lines `grade PATH` ends with."""

from __future__ import annotations

import grader.models as m
from grader.reports import terminal
from grader.reports.terminal import DASH, Cell

FP = m.Fingerprint("s", "t", "r", "u", "0")
MAX = {"01_neural_networks": 25.0, "05_attention_mechanism": 20.0, "homework": 20.0}


def grade(student: str, assignment: str, status: m.Status = m.Status.GRADED, score: float = 0.0,
          message: str = "") -> m.Grade:
    return m.Grade(student=student, assignment=assignment, status=status, score=score,
                   max_score=MAX[assignment], message=message, fingerprint=FP)


GRADES = [
    grade("ivan", "05_attention_mechanism", m.Status.TIMEOUT, message="the notebook ran past 300 s"),
    grade("ada", "homework", m.Status.MISSING),
    grade("ada", "01_neural_networks", score=25.0),
    grade("max", "homework", score=3.4166),
    grade("noor", "homework", m.Status.REJECTED, message="a pickled pytorch_model.bin:\nrefused"),
    grade("ada", "05_attention_mechanism", score=17.5),
]


def test_rows_are_students_and_columns_assignments_both_sorted() -> None:
    scores = terminal.matrix(GRADES)
    assert scores.labels == ("01 (25)", "05 (20)", "homework (20)")
    assert [student for student, _ in scores.rows] == ["ada", "ivan", "max", "noor"]


def test_cells_show_scores_status_words_and_dashes() -> None:
    rows = dict(terminal.matrix(GRADES).rows)
    assert [c.text for c in rows["ada"]] == ["25", "17.5", DASH]
    assert rows["max"] == (Cell(DASH, m.Status.MISSING), Cell(DASH, m.Status.MISSING), Cell("3.4", m.Status.GRADED))
    assert [c.text for c in rows["ivan"]] == [DASH, "timeout", DASH]  # no result at all reads as missing
    assert [c.text for c in rows["noor"]] == [DASH, DASH, "rejected"]


def test_an_error_shows_its_status_not_its_zero_score() -> None:
    rows = dict(terminal.matrix([grade("kim", "homework", m.Status.ERROR, message="out of memory")]).rows)
    assert rows["kim"] == (Cell("error", m.Status.ERROR),)


def test_labels_fall_back_to_names_when_numbers_are_missing_or_shared() -> None:
    assert terminal.short_labels(["01_a", "02_b", "homework", "final"]) == {
        "01_a": "01", "02_b": "02", "final": "final", "homework": "homework"}
    assert terminal.short_labels(["03_rnn", "03_lstm", "04_x"]) == {"03_lstm": "03_lstm", "03_rnn": "03_rnn", "04_x": "04"}


def test_score_text() -> None:
    assert [terminal.score_text(x) for x in (25.0, 0.0, 3.4166, 22.5, 0.04)] == ["25", "0", "3.4", "22.5", "0"]


def test_problems_are_the_not_graded_results_only_sorted() -> None:
    found = terminal.problems(GRADES)
    assert [(p.student, p.label, p.status) for p in found] == [
        ("ivan", "05", m.Status.TIMEOUT), ("noor", "homework", m.Status.REJECTED)]


def test_problem_lines_align_and_keep_to_one_line() -> None:
    lines = terminal.problem_lines(terminal.problems(GRADES), width=100)
    assert lines == [
        "ivan  05        timeout   the notebook ran past 300 s",
        "noor  homework  rejected  a pickled pytorch_model.bin: refused",
    ]


def test_a_long_message_is_cut_to_the_width() -> None:
    long = grade("ivan", "homework", m.Status.ERROR, message="CUDA out of memory. " * 50)
    (line,) = terminal.problem_lines(terminal.problems([long]), width=80)
    assert 70 < len(line) <= 80
    assert line.startswith("ivan  homework  error  CUDA out of memory.")
    assert line.endswith(" of…")  # on a whole word


def test_a_word_longer_than_the_room_is_cut_inside() -> None:
    assert terminal.one_line("x" * 50, 10) == "x" * 9 + "…"


def test_hostile_names_and_messages_cannot_drive_the_terminal() -> None:
    hostile = grade("eve\x1b[2J" + "e" * 100, "homework", m.Status.ERROR, message="\x1b[31mred\x1b[0m\x07 \u202eevil")
    scores = terminal.matrix([hostile])
    (student, _), = scores.rows
    assert "\x1b" not in student and len(student) == terminal.NAME_LIMIT
    (line,) = terminal.problem_lines(terminal.problems([hostile]), width=120)
    assert all(char.isprintable() for char in line)
    assert "red" in line and "\x1b" not in line and "\u202e" not in line


def test_labels_go_on_two_lines_only_when_one_is_too_wide() -> None:
    scores = terminal.matrix(GRADES)
    assert scores.width(("student", *scores.labels)) == 7 + 2 + 7 + 2 + 7 + 2 + 13
    assert scores.header(40) == ("student", "01 (25)", "05 (20)", "homework (20)")
    assert scores.header(39) == ("student", "01\n(25)", "05\n(20)", "homework\n(20)")
    assert scores.width(scores.header(39)) == 7 + 2 + 4 + 2 + 7 + 2 + 8  # `timeout`, `rejected`


def test_no_grades_no_rows() -> None:
    assert terminal.matrix([]) == terminal.Matrix((), ())
    assert terminal.problem_lines([], width=80) == []
