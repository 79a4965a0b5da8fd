"""roster.csv in grade's own shape, as Canvas's gradebook export, and as Moodle's participants export."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.course.roster import load_roster, parse_roster
from grader.models import RosterStudent
from grader.errors import InstructorError


def test_no_roster_file_means_no_roster(tmp_path: Path) -> None:
    assert load_roster(tmp_path) is None


def test_grades_own_format() -> None:
    roster = parse_roster("student,name,email,section\nada,Ada Lovelace,ada@uni.example,A\nbob,,,\n")
    assert roster.source == "grade"
    assert roster.students == (RosterStudent("ada", "Ada Lovelace", "ada@uni.example", "A"), RosterStudent("bob"))


def test_a_canvas_gradebook_export_as_it_comes(tmp_path: Path) -> None:
    """Canvas's Grades > Export: a byte-order mark, the Points Possible row, the test student,
    assignment columns "Name (id)" and read-only totals."""
    (tmp_path / "roster.csv").write_text(
        "\ufeffStudent,ID,SIS User ID,SIS Login ID,Section,05_attention_mechanism (4711),Quiz 1 (12),Current Score\n"
        "    Points Possible,,,,,20.00,5.00,(read only)\n"
        '"Lovelace, Ada",101,S-001,ada,Section A,,,\n'
        '"Student, Test",999,,,Section A,,,\n'
        '"Hopper, Grace",102,S-002,,Section B,,,\n', encoding="utf-8")
    roster = load_roster(tmp_path)
    assert roster is not None and roster.source == "canvas"
    assert roster.students == (
        RosterStudent("ada", "Lovelace, Ada", section="Section A", canvas_id="101", sis_user_id="S-001"),
        RosterStudent("S-002", "Hopper, Grace", section="Section B", canvas_id="102", sis_user_id="S-002"))
    assert roster.canvas_assignments == {"05_attention_mechanism": "4711", "Quiz 1": "12"}


def test_a_moodle_participants_export_as_it_comes() -> None:
    roster = parse_roster("First name,Last name,Username,ID number,Email address,Groups\n"
                          "Ada,Lovelace,alovelace,1001,ada@uni.example,G1\n"
                          "Alan,Turing,,1002,alan@uni.example,\n")
    assert roster.source == "moodle"
    assert roster.students == (
        RosterStudent("alovelace", "Ada Lovelace", "ada@uni.example", "G1", idnumber="1001"),
        RosterStudent("1002", "Alan Turing", "alan@uni.example", "", idnumber="1002"))


@pytest.mark.parametrize("text, message", [
    ("name,mail\nAda,a@b\n", "unknown roster format"),
    ("student,name\nada,A\nada,B\n", "'ada' is listed twice"),
    ("student,name\n,Nobody\n", "row 2 has no student id"),
])
def test_a_bad_roster_says_what_to_fix(text: str, message: str) -> None:
    with pytest.raises(InstructorError, match=message):
        parse_roster(text)
