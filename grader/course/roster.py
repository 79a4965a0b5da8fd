"""roster.csv: the students of the course, read in the course's own shape or as Canvas or Moodle export it.

The file sits at the course root. Its format is told by its header:

- grade's own: `student,name,email,section` (optional `canvas_id`, `sis_user_id`, `idnumber`);
- a Canvas gradebook export (Grades > Export): `Student,ID,SIS User ID,SIS Login ID,Section,...`;
  the student id is the SIS Login ID (else the SIS User ID, else Canvas's ID); the "Points Possible"
  row and Canvas's "Test Student" are skipped; assignment columns written `Name (12345)` give
  the Canvas id of the assignment named Name, which `grade export --format canvas` then updates;
- a Moodle participants or grade export: `First name,Last name,...,Email address,...`; the student
  id is the Username column if the export has one, else the ID number, else the email address.

The student id must be the name of the student's submission folder (or zip).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

from grader.errors import InstructorError, course_file
from grader.models import RosterStudent

ROSTER_FILE = "roster.csv"
CANVAS_SKIPPED = {"Points Possible", "Test Student", "Student, Test"}
_CANVAS_ASSIGNMENT = re.compile(r"^(?P<name>.+?) \((?P<id>\d+)\)$")


@dataclass(frozen=True)
class Roster:
    students: tuple[RosterStudent, ...]
    source: str  # "grade", "canvas" or "moodle": the format the file was in
    canvas_assignments: dict[str, str] = field(default_factory=dict)  # assignment -> Canvas assignment id

    def ids(self) -> frozenset[str]:
        return frozenset(s.student for s in self.students)


def load_roster(root: Path) -> Roster | None:
    """ROOT/roster.csv, or None when the course has none; raise InstructorError naming the row and the fix."""
    path = root / ROSTER_FILE
    if not path.is_file():
        return None
    try:
        text = path.read_text(encoding="utf-8-sig")  # Excel and Canvas write a byte-order mark
    except UnicodeDecodeError as exc:
        raise InstructorError(f"{course_file(path)} is not UTF-8 text ({exc}); save it as CSV UTF-8") from exc
    return parse_roster(text, course_file(path))


def parse_roster(text: str, where: str = ROSTER_FILE) -> Roster:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip() for h in reader.fieldnames or ()]
    reader.fieldnames = header
    rows = [{k: (v or "").strip() for k, v in row.items() if k is not None} for row in reader]
    if "student" in header:
        students, source, ids = [_grade_row(r) for r in rows], "grade", {}
    elif {"Student", "SIS Login ID"} <= set(header):
        students = [_canvas_row(r) for r in rows if r.get("Student") not in CANVAS_SKIPPED]
        source = "canvas"
        ids = {m["name"]: m["id"] for h in header if (m := _CANVAS_ASSIGNMENT.match(h))}
    elif "Email address" in header and {"First name", "Last name"} <= set(header):
        students, source, ids = [_moodle_row(r) for r in rows], "moodle", {}
    else:
        raise InstructorError(
            f"{where}: unknown roster format (header {','.join(header)[:200]!r}); write student,name,email,section, "
            "or use Canvas's gradebook export or Moodle's participants export as they come")
    seen: set[str] = set()
    for number, entry in enumerate(students, start=2):
        if not entry.student:
            raise InstructorError(f"{where}: row {number} has no student id ({_id_column(source)}); fill it in or "
                                  "delete the row")
        if entry.student in seen:
            raise InstructorError(f"{where}: student {entry.student!r} is listed twice; keep one row")
        seen.add(entry.student)
    return Roster(students=tuple(students), source=source, canvas_assignments=ids)


def _id_column(source: str) -> str:
    return {"grade": "column student", "canvas": "SIS Login ID, SIS User ID or ID",
            "moodle": "Username, ID number or Email address"}[source]


def _grade_row(row: dict[str, str]) -> RosterStudent:
    return RosterStudent(student=row.get("student", ""), name=row.get("name", ""), email=row.get("email", ""),
                         section=row.get("section", ""), canvas_id=row.get("canvas_id", ""),
                         sis_user_id=row.get("sis_user_id", ""), idnumber=row.get("idnumber", ""))


def _canvas_row(row: dict[str, str]) -> RosterStudent:
    student = row.get("SIS Login ID") or row.get("SIS User ID") or row.get("ID", "")
    return RosterStudent(student=student, name=row.get("Student", ""), section=row.get("Section", ""),
                         canvas_id=row.get("ID", ""), sis_user_id=row.get("SIS User ID", ""))


def _moodle_row(row: dict[str, str]) -> RosterStudent:
    email = row.get("Email address", "")
    student = row.get("Username") or row.get("ID number") or email
    name = " ".join(part for part in (row.get("First name", ""), row.get("Last name", "")) if part)
    return RosterStudent(student=student, name=name, email=email, section=row.get("Groups", ""),
                         idnumber=row.get("ID number", ""))
