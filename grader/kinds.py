"""The registry of assignment kinds, and reading a course from disk with it.

A rubric's `kind:` names one of KINDS; each kind is an object that says how its submissions
are found, graded, fingerprinted and released (grader/course/assignments.py AssignmentKind).
The registry sits above the kinds' implementations (grader/pipeline/notebook.py,
grader/homework/kind.py), which is why loading a course lives here and not in grader/course/:
the course package stays plain data that every stage may import.
"""

from __future__ import annotations

from pathlib import Path

from grader.course.assignments import Assignment, AssignmentKind, Course
from grader.course.rubric import load_rubric
from grader.course.config import load_course_config
from grader.errors import GradeError, InstructorError, RubricError, course_file
from grader.homework.kind import ModelKind
from grader.pipeline.notebook import NotebookKind

KINDS: dict[str, AssignmentKind] = {kind.name: kind for kind in (NotebookKind(), ModelKind())}


def kind_named(name: str, rubric_path: Path) -> AssignmentKind:
    if name not in KINDS:
        raise RubricError(f"rubric {rubric_path}: kind must be one of {', '.join(KINDS)}, not {name!r}")
    return KINDS[name]


def load_course(root: Path) -> Course:
    """Read course.yaml, rubrics/*.yaml and the matching reference/<assignment>/ folders."""
    root = root.resolve()
    config = load_course_config(root)
    rubric_dir = root / "rubrics"
    if not rubric_dir.is_dir():
        raise GradeError(
            f"no rubrics/ folder in {root}: run grade from the course repository, or pass --course DIR"
        )
    assignments = {}
    for rubric_path in sorted(rubric_dir.glob("*.yaml")):
        rubric = load_rubric(rubric_path)
        if rubric.assignment in assignments:
            raise RubricError(f"rubric {rubric_path}: assignment {rubric.assignment} is already defined by "
                              f"{assignments[rubric.assignment].rubric_path}; give each rubric its own assignment")
        kind = kind_named(rubric.kind, rubric_path)
        folder = root / "reference" / rubric.assignment
        if not (folder / rubric.notebook).is_file():
            raise GradeError(f"rubric {rubric_path.name} names {rubric.notebook}, not found in {folder}")
        assignments[rubric.assignment] = Assignment(rubric.assignment, folder, rubric_path, rubric, kind, root)
    if not assignments:
        raise GradeError(f"no rubrics in {rubric_dir}")
    if config.assignments is not None:
        unknown = [name for name in config.assignments if name not in assignments]
        if unknown:
            raise InstructorError(f"{course_file(config.path or root)} lists assignments with no rubric in "
                                  f"{course_file(rubric_dir)}: {', '.join(unknown)}")
        assignments = {name: assignments[name] for name in config.assignments}
    undated = sorted(set(config.deadlines) - set(assignments))
    if undated:
        raise InstructorError(f"{course_file(config.path or root)}: `deadlines:` names assignments the course does "
                              f"not have: {', '.join(undated)}; the assignments are {', '.join(assignments)}")
    return Course(root=root, assignments=assignments, config=config)
