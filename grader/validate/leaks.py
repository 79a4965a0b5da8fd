"""The student edition of one assignment, built as `grade release` builds it, and what it must not hold.

The release picks its files one by one (grader/students/release.py); this checks the result,
so a hidden test's name in a public test or in the notebook's text, a solution line that also
sits outside the solution markers (a demo cell, a public test), or a course file that should
never ship is found before students see it. Checked in every file the release writes: the
hidden test files' names, the hidden tests' names (as whole words), the reference's solution
lines (a line of code between the markers, long enough to give something away, found in a
released code cell or file; the notebook's markdown may quote one as a hint), the reference's
model answers to its written questions (a line of a cell marked `grade.written`, long enough to
give something away and not also written elsewhere in the reference, found in any released cell
or file: the release must hold `YOUR ANSWER HERE` there), and the course's own files
(mutants.yaml, the rubric, a hidden test file) by name or content.
"""

from __future__ import annotations

import io
import re
import tokenize
from dataclasses import dataclass
from pathlib import Path

import nbformat

from grader.course.assignments import Assignment, Course
from grader.course.mutants import mutants_path
from grader.errors import GradeError
from grader.students.release import ReleaseOptions, build_release, public_test_names
from grader.students.strip import BEGIN, END, written_answers, written_id
from grader.validate.findings import Finding, Severity

MIN_SOLUTION_LINE = 24  # characters: shorter lines (`return x`, `else:`) are common to any code
MAX_SCANNED_BYTES = 20 * 1024 * 1024  # a released data file larger than this is not read


@dataclass(frozen=True)
class BuiltRelease:
    root: Path
    notebook: Path | None  # the released notebook, None when the release failed
    findings: tuple[Finding, ...]


def release_findings(course: Course, assignment: Assignment, out: Path) -> BuiltRelease:
    """Build the student edition of `assignment` alone into `out` and check what it holds."""
    alone = Course(root=course.root, assignments={assignment.name: assignment}, config=course.config)
    try:
        release = build_release(alone, ReleaseOptions(out=out))
    except GradeError as error:
        return BuiltRelease(out, None, (Finding(assignment.name, Severity.PROBLEM,
                                                f"grade release fails: {' '.join(str(error).split())}"),))
    files = [out / path for path in release.files]
    return BuiltRelease(out, out / assignment.rubric.notebook, tuple(_leaks(assignment, out, files)))


def hidden_test_names(assignment: Assignment) -> set[str]:
    files = sorted(assignment.hidden_tests.glob("*.py")) if assignment.hidden_tests.is_dir() else []
    return set(public_test_names(files))


def solution_lines(notebook: Path) -> set[str]:
    """The reference's lines between solution markers, stripped, that are long enough to matter."""
    lines: set[str] = set()
    for cell in nbformat.read(notebook, as_version=4).cells:
        if cell.cell_type != "code":
            continue
        inside = False
        for line in cell.source.splitlines():
            if BEGIN.match(line):
                inside = True
            elif END.match(line):
                inside = False
            elif inside and len(code := code_of(line)) >= MIN_SOLUTION_LINE:
                lines.add(code)
    return lines


def model_answer_lines(notebook: Path) -> set[str]:
    """The reference's written-answer lines, stripped, long enough to matter and found in no other
    cell of the reference (a sentence the question itself repeats is no secret)."""
    reference = nbformat.read(notebook, as_version=4)
    answers = written_answers(reference, notebook.name)
    answer_lines = {line.strip() for text in answers.values() for line in text.splitlines()
                    if len(line.strip()) >= MIN_SOLUTION_LINE}
    elsewhere = {line.strip() for cell in reference.cells if written_id(cell) is None
                 for line in cell.source.splitlines()}
    return answer_lines - elsewhere


def code_of(line: str) -> str:
    """A line without its indentation and its trailing comment: what the line computes."""
    text = line.strip()
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text + "\n").readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return text  # part of a statement spread over lines: compared as it is
    comment = next((t for t in tokens if t.type == tokenize.COMMENT), None)
    return text[:comment.start[1]].rstrip() if comment else text


def _leaks(assignment: Assignment, out: Path, files: list[Path]) -> list[Finding]:
    name = assignment.name
    hidden_files = sorted(assignment.hidden_tests.glob("*.py")) if assignment.hidden_tests.is_dir() else []
    secret_files = [*hidden_files, assignment.rubric_path]
    if mutants_path(assignment.root).is_file():
        secret_files.append(mutants_path(assignment.root))
    secret_bytes = {path.read_bytes(): path for path in secret_files}
    secret_names = {path.name for path in secret_files} | {path.stem for path in hidden_files}
    names = hidden_test_names(assignment)
    words = re.compile(r"\b(" + "|".join(map(re.escape, sorted(names | secret_names, key=len, reverse=True)))
                       + r")\b") if names | secret_names else None
    solutions = solution_lines(assignment.reference_notebook) if assignment.reference_notebook.is_file() else set()
    answers = model_answer_lines(assignment.reference_notebook) if assignment.reference_notebook.is_file() else set()
    found: list[Finding] = []
    for path in files:
        shown = path.relative_to(out)
        if path.name in secret_names:
            found.append(Finding(name, Severity.PROBLEM, f"the release ships {shown}, a course file students must "
                                 "never see", assignment.root))
        if path.stat().st_size > MAX_SCANNED_BYTES:
            continue
        data = path.read_bytes()
        if data and data in secret_bytes:
            found.append(Finding(name, Severity.PROBLEM, f"the release's {shown} is a copy of "
                                 f"{secret_bytes[data].name}, which students must never see", secret_bytes[data]))
            continue
        text = data.decode("utf-8", errors="replace")
        hits = sorted({m[1] for m in words.finditer(text)}) if words else []
        if hits:
            kind = "hidden tests and files" if len(hits) > 1 else "a hidden test or file"
            found.append(Finding(name, Severity.PROBLEM, f"the release's {shown} names {kind}: {', '.join(hits)}; "
                                 "students must not learn what the hidden tests are", _source_of(assignment, path)))
        leaked = sorted(solutions & {code_of(line) for line in _code_lines(path, text)})
        if leaked:
            more = f" and {len(leaked) - 1} more" if len(leaked) > 1 else ""
            found.append(Finding(name, Severity.PROBLEM, f"the release's {shown} holds solution code: "
                                 f"{leaked[0]!r}{more}; it also appears outside the solution markers",
                                 _source_of(assignment, path)))
        answered = sorted(answers & {line.strip() for line in _all_lines(path, text)})
        if answered:
            more = f" and {len(answered) - 1} more" if len(answered) > 1 else ""
            found.append(Finding(name, Severity.PROBLEM, f"the release's {shown} holds a model answer to a written "
                                 f"question: {answered[0]!r}{more}; a cell marked grade.written must go out as "
                                 "`YOUR ANSWER HERE`, and the answer must not be written anywhere else",
                                 _source_of(assignment, path)))
    return found


def _all_lines(path: Path, text: str) -> list[str]:
    """A notebook's lines of every cell (its JSON would escape them), else the file's lines."""
    if path.suffix == ".ipynb":
        try:
            notebook = nbformat.reads(text, as_version=4)
        except Exception:  # noqa: BLE001 - a notebook we wrote ourselves; unreadable means scan its text
            return text.splitlines()
        return [line for cell in notebook.cells for line in cell.source.splitlines()]
    return text.splitlines()


def _code_lines(path: Path, text: str) -> list[str]:
    """A notebook's code cell lines (its JSON would escape them), else the file's lines. A notebook's
    markdown is the instructor's prose: a line of the solution quoted there is a hint given on purpose."""
    if path.suffix == ".ipynb":
        try:
            notebook = nbformat.reads(text, as_version=4)
        except Exception:  # noqa: BLE001 - a notebook we wrote ourselves; unreadable means scan its text
            return text.splitlines()
        return [line for cell in notebook.cells if cell.cell_type == "code" for line in cell.source.splitlines()]
    return text.splitlines()


def _source_of(assignment: Assignment, released: Path) -> Path:
    """The course file a released file was made from (what the instructor edits)."""
    if released.suffix == ".ipynb":
        return assignment.reference_notebook
    public = assignment.public_tests / released.name
    return public if public.is_file() else released
