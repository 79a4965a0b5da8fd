"""grader.export: the LMS grade imports (`grade export --format canvas|moodle`), against golden files.

The formats, as documented:

- Canvas, "How do I import grades in the Gradebook?" (Instructure Canvas Instructor Guide,
  https://community.canvaslms.com/t5/Instructor-Guide/How-do-I-import-grades-in-the-Gradebook/ta-p/807):
  the CSV the Gradebook export writes; the columns Student, ID, SIS User ID, SIS Login ID and Section
  come first and identify the student, then one column per assignment, `Name (ID)` for an existing
  assignment; a column without an ID creates a new assignment; the export's second row is
  "Points Possible". The same requirements as a university's guide states them (found by search):
  https://teaching.resources.osu.edu/toolsets/carmencanvas/guides/calculating-final-grades/import-csv-file-carmen-grades
  ("Student Name OR Student ID OR Student SIS User ID ... SIS Login ID ... Section ... Assignment Name";
  "New assignment columns in the Gradebook generate new assignments").
- Moodle, "Grade import" (MoodleDocs, https://docs.moodle.org/311/en/Grade_import): CSV import
  lets the teacher choose the column mapping: "Map from" a column of the file "Map to" a user field,
  "Email Address" to `useremail` or "Id Number" to `useridnumber`, and each other column to a grade
  item (or a new one).
"""

from __future__ import annotations

import csv
import io
import os
from datetime import datetime, timezone
from pathlib import Path

from grader import models as m
from grader.export import GRADEBOOK_IDS, MOODLE_IDS, write_canvas, write_moodle
from grader.models import RosterStudent
from tests.factories import make_grade

GOLDEN = Path(__file__).parent / "golden"
ROSTER = [
    RosterStudent("ada", name="Lovelace, Ada", email="ada@uni.example", section="A", canvas_id="101",
               sis_user_id="S-001", idnumber="1001"),
    RosterStudent("bob", name="Babbage, Bob", email="bob@uni.example", section="B", canvas_id="102",
               sis_user_id="S-002", idnumber="1002"),
    RosterStudent("=cy", name="=HYPERLINK(\"x\")", email="cy@uni.example", section="A"),
]


def class_grades() -> list[m.Grade]:
    late = m.Lateness(due_at=datetime(2026, 11, 2, 23, 0, tzinfo=timezone.utc),
                      submitted_at=datetime(2026, 11, 4, 9, 0, tzinfo=timezone.utc), days_late=2, penalty_percent=20.0)
    return [
        make_grade("ada", "01_neural_networks", tests=(), score=25.0, max_score=25.0),
        make_grade("ada", "05_attention_mechanism", tests=(), score=0.1 + 0.2, max_score=20.0),
        make_grade("bob", "01_neural_networks", tests=(), score=20.0, max_score=25.0, late=late),  # final 15
        make_grade("bob", "05_attention_mechanism", tests=(), score=0.0, max_score=20.0, status=m.Status.MISSING),
        make_grade("=cy", "01_neural_networks", tests=(), score=12.5, max_score=25.0),
        make_grade("stranger", "01_neural_networks", tests=(), score=7.0, max_score=25.0),
    ]


def golden(name: str, text: str) -> None:
    """Reviewed like code; regenerate with GRADER_UPDATE_GOLDEN=1 after an intended change."""
    path = GOLDEN / name
    if os.environ.get("GRADER_UPDATE_GOLDEN"):
        path.write_text(text, "utf-8")
    assert text == path.read_text("utf-8")


def test_canvas_import_csv_matches_the_documented_columns() -> None:
    """Canvas: the five identifying columns, `Name (ID)` where the Canvas id is known, the Points Possible row;
    final scores; the student not on the roster left out and named."""
    stream = io.StringIO(newline="")
    left_out = write_canvas(class_grades(), stream, roster=ROSTER, canvas_ids={"05_attention_mechanism": "4711"})
    text = stream.getvalue()
    golden("export_canvas.csv", text)

    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert left_out == ["stranger"]
    assert tuple(rows[0][:5]) == GRADEBOOK_IDS
    assert rows[0][5:] == ["01_neural_networks", "05_attention_mechanism (4711)"]
    assert rows[1] == ["Points Possible", "", "", "", "", "25", "20"]
    by_login = {r[3]: r for r in rows[2:]}
    assert by_login["ada"] == ["Lovelace, Ada", "101", "S-001", "ada", "A", "25", "0.3"]
    assert by_login["bob"][5:] == ["15", "0"]  # 20 - 2 days x 20 % of 25; nothing handed in: 0
    assert by_login["'=cy"][:1] == ["'=HYPERLINK(\"x\")"] and by_login["'=cy"][5:] == ["12.5", ""]  # no result: empty
    assert len(rows) == 2 + len(ROSTER)


def test_moodle_import_csv_has_one_identifier_column_per_user_field_and_one_per_grade_item() -> None:
    """Moodle: map "Email address" to useremail (or "ID number" to useridnumber); each assignment column to a
    grade item. No Points Possible row (Moodle would read it as a user); the stranger is left out."""
    stream = io.StringIO(newline="")
    left_out = write_moodle(class_grades(), stream, roster=ROSTER)
    text = stream.getvalue()
    golden("export_moodle.csv", text)

    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert left_out == ["stranger"]
    assert list(rows[0])[:4] == list(MOODLE_IDS)
    assert [r["Email address"] for r in rows] == ["cy@uni.example", "ada@uni.example", "bob@uni.example"]
    assert {r["ID number"]: (r["01_neural_networks"], r["05_attention_mechanism"]) for r in rows} == {
        "": ("12.5", ""), "1001": ("25", "0.3"), "1002": ("15", "0")}


def test_without_a_roster_every_graded_student_is_written_by_id() -> None:
    stream = io.StringIO(newline="")
    assert write_canvas(class_grades(), stream) == []
    rows = list(csv.reader(io.StringIO(stream.getvalue(), newline="")))
    assert [r[3] for r in rows[2:]] == ["'=cy", "ada", "bob", "stranger"]
    assert [r[0] for r in rows[2:]] == [r[3] for r in rows[2:]]
