"""Frozen values that flow between the pipeline stages.

discover -> Submission; execute -> Execution; check -> TestResult; the pipeline -> Grade.
Their one mapping to plain data (JSON) lives in grader/records.py.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Iterable


class Status(StrEnum):
    """What happened to one (student, assignment)."""

    GRADED = "graded"  # the notebook ran (maybe with cell errors) and the tests ran
    ERROR = "error"  # the kernel died, or a resource limit was hit: the student's fault, with a message
    TIMEOUT = "timeout"  # the notebook ran past its wall-clock limit
    REJECTED = "rejected"  # the submission could not be opened safely (bad JSON, symlink, zip bomb...)
    MISSING = "missing"  # the student handed in no file for this assignment


class Outcome(StrEnum):
    """One test's verdict (pytest's words; the stored strings)."""

    PASSED = "passed"
    FAILED = "failed"  # the test ran and an assertion failed
    ERROR = "error"  # the test could not run to its assertions (or did not run at all)
    SKIPPED = "skipped"


class RunState(StrEnum):
    """Where a grading run is."""

    RUNNING = "running"
    FINISHED = "finished"
    INTERRUPTED = "interrupted"  # stopped (Ctrl-C, a crash) or found dead by a later run
    FAILED = "failed"


class SubmissionKind(StrEnum):
    NOTEBOOK = "notebook"
    PACKAGE = "package"  # Python modules instead of a notebook
    MODEL_FOLDER = "model folder"  # a saved model (the homework): config, safetensors weights, tokenizer


class SignalKind(StrEnum):
    """A sign that a submission tried to tamper with grading, as the stage that saw it names it.

    Signals change no verdict (student code never reaches one); they point a TA at work worth a look.
    """

    KILLED = "killed"  # the kernel died or exited while running the notebook
    ESCAPE = "escape"  # output or an error shows code reaching outside the sandbox
    PATCHED = "patched"  # output or an error shows a patched builtin or test helper
    FAKE_RESULT = "fake result"  # a check got an object of a non-data class where a tensor belongs
    SUCCESS_CLAIM = "success claim"  # the output claims success; a signal when the tests disagree


@dataclass(frozen=True)
class Signal:
    kind: SignalKind
    detail: str  # the evidence: the output line, the kernel's fate, or the class name of a fake result

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", SignalKind(self.kind))


@dataclass(frozen=True)
class StudentFolder:
    """One student's hand-in as discovery finds it: a folder or a zip, named for the student."""

    student: str
    path: Path  # a folder, or a zip file
    problem: str = ""  # non-empty when the whole hand-in must be rejected (a symlink out, a zip bomb...)


@dataclass(frozen=True)
class Submission:
    """One student's work for one assignment, as found on disk (before anything ran)."""

    student: str
    assignment: str
    kind: SubmissionKind
    source: Path  # the notebook, the package folder, or the zip it came from
    content_hash: str  # sha256 over the submitted files' names and bytes
    problem: str = ""  # non-empty when discovery already knows it must be rejected


@dataclass(frozen=True)
class CellError:
    """An exception a student cell raised, by its 1-based number among code cells."""

    cell: int
    ename: str
    evalue: str


@dataclass(frozen=True)
class Figure:
    """A figure a code cell drew (a PNG or SVG display output), checked in the trusted process
    (grader/kernel/figures.py): `data` is its bytes as base64, re-encoded there, never the kernel's text."""

    cell: int  # 1-based among code cells, as CellError
    mime: str  # image/png or image/svg+xml
    data: str


@dataclass(frozen=True)
class Execution:
    """What running the student's code in the sandbox produced."""

    status: Status
    message: str = ""
    cell_errors: tuple[CellError, ...] = ()
    output_excerpt: str = ""  # student stdout/stderr, truncated; never trusted, always escaped
    duration_s: float = 0.0
    sandboxed: bool = True
    signals: tuple[Signal, ...] = ()  # what the kernel stage saw: a killed kernel, escape attempts...
    figures: tuple[Figure, ...] = ()  # what the notebook drew, capped (grader/kernel/figures.py)


@dataclass(frozen=True)
class TestResult:
    """One test's verdict, computed in the trusted process."""

    test_id: str  # the rubric key: the test function's name
    part: str  # the rubric part it belongs to, e.g. "Multi-head attention"
    outcome: Outcome
    points: float
    max_points: float
    message: str = ""  # for the course staff: it may state the hidden expected values
    duration_s: float = 0.0
    signals: tuple[Signal, ...] = ()  # what the check saw, e.g. a fake result object
    # What a student may read of `message`, written by the check that failed (grader.checks.tensors.CheckFailed).
    # None: the message came from elsewhere (a plain assert, an instructor's own AssertionError, an error).
    student_message: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "outcome", Outcome(self.outcome))


@dataclass(frozen=True)
class ModelScore:
    """The homework's measurements of one saved model, as far as grading got.

    The held-out facts are always known; the model's (architecture on) once it passed
    validation; the scores (accuracy on) once inference ran. None: that stage was not reached.
    """

    split_hash: str  # sha256 of the held-out split: a grade is reused only against the same one
    n_heldout: int
    heldout: str  # where the held-out set came from: the rubric's settings.heldout
    majority_accuracy: float  # the majority-class baseline, where points start
    architecture: str | None = None
    parameters: int | None = None
    weights_mib: float | None = None
    accuracy: float | None = None
    macro_f1: float | None = None
    per_class_f1: tuple[float, ...] | None = None  # in the order of `labels`
    confusion_matrix: tuple[tuple[int, ...], ...] | None = None  # rows: true labels; columns: predicted
    labels: tuple[str, ...] | None = None
    other_metrics: tuple[tuple[str, float], ...] | None = None  # the rubric's further metrics: (name, value)
    device: str | None = None  # what inference ran on, as the sandboxed script reported it
    dtype: str | None = None
    inference_s: float | None = None
    reviews_per_s: float | None = None
    seconds: float | None = None  # the whole grading of this model


@dataclass(frozen=True)
class Fingerprint:
    """What a grade was computed against, so it can be explained, reproduced, and reused."""

    submission_hash: str
    tests_hash: str
    reference_hash: str
    rubric_hash: str
    grader_version: str


@dataclass(frozen=True)
class RosterStudent:
    """A student of the course, as the roster lists them (grader/course/roster.py reads it, the gradebook
    stores it, the LMS exports write its ids). `student` is the submission folder's name."""

    student: str
    name: str = ""
    email: str = ""
    section: str = ""
    canvas_id: str = ""  # Canvas's user ID
    sis_user_id: str = ""
    idnumber: str = ""  # Moodle's ID number


@dataclass(frozen=True)
class Lateness:
    """When a submission came in against its due time, and the share of the points the course's late
    policy takes for it (grader/course/deadlines.py computes it; a Grade without one was on time or
    has no deadline). The penalty is a percentage of the points possible, as Canvas deducts it."""

    due_at: datetime  # the deadline, or the student's extension
    submitted_at: datetime | None  # from a trusted source (--submitted-at, commit dates); None: unknown
    days_late: int = 0  # started days after the due time (0 on time or inside the grace period)
    penalty_percent: float = 0.0  # of max_score; 100 past max_days_late
    extended: bool = False  # due_at is the student's extension (extensions.csv)
    message: str = ""  # what the student reads about it; empty when on time

    def __post_init__(self) -> None:
        if not 0 <= self.penalty_percent <= 100:
            raise ValueError(f"a late penalty is 0 to 100 percent, not {self.penalty_percent}")


@dataclass(frozen=True)
class RubricItem:
    """One rubric item of a manual part, Gradescope style: a TA applies any subset of a part's items."""

    id: str  # [a-z0-9_]+, unique within its part
    points: float  # positive: earned; negative: a deduction
    description: str


@dataclass(frozen=True)
class ManualPart:
    """A part a TA grades by hand (rubric `manual:`): a written-answer cell of the notebook, or a
    file of the submission (the homework's REPORT.md), scored with rubric items."""

    name: str
    answer: str  # the written-answer cell's id, or the file's name
    items: tuple[RubricItem, ...]
    comments: tuple[str, ...] = ()  # comment templates a TA can insert

    @property
    def max_points(self) -> float:
        """The sum of the positive items' points: deductions only ever take away."""
        return sum(item.points for item in self.items if item.points > 0)

    def points_for(self, items: Iterable[RubricItem], adjustment: float) -> float:
        """clamp(applied items' points + adjustment, 0, max_points)."""
        return min(max(sum(item.points for item in items) + adjustment, 0.0), self.max_points)


@dataclass(frozen=True)
class ManualGrade:
    """A TA's grade of one manual part (grader/store/manual.py saves it; `part` is the answer id).
    `applied` keeps the items with their points and text as they were when saved, so a later
    rubric edit does not rewrite history."""

    student: str
    assignment: str
    part: str
    items: tuple[str, ...]  # the applied items' ids
    adjustment: float
    points: float
    comment: str
    graded_by: str
    graded_at: datetime
    version: int  # 1 for the first save, +1 each save after
    applied: tuple[RubricItem, ...] = ()
    answer_sha256: str | None = None  # of the answer the TA graded (answer_digest); None: no answer


def answer_digest(text: str | None) -> str | None:
    """What tells a graded answer from a new one: the SHA-256 of its text (None for no answer)."""
    return None if text is None else hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class ManualResult:
    """One manual part of a grade: the part as the rubric had it when the submission was graded, the
    student's answer (markdown; None: none handed in) and, once a TA saved one, their grade."""

    part: ManualPart
    answer: str | None
    grade: ManualGrade | None = None

    @property
    def points(self) -> float | None:
        return None if self.grade is None else self.grade.points

    @property
    def awaiting(self) -> bool:
        """An answer handed in that no TA graded yet (or that changed since). A part left unanswered
        counts 0 and awaits nobody; a TA may still grade it."""
        return self.answer is not None and (self.grade is None or self.stale)

    @property
    def stale(self) -> bool:
        """Graded, but the student handed in another answer since: it needs a look again."""
        return self.grade is not None and self.grade.answer_sha256 != answer_digest(self.answer)


@dataclass(frozen=True)
class Grade:
    """The result for one (student, assignment). `score` is the raw score the tests gave (overrides
    change it when grades are read); `final_score` is what counts, after the late penalty."""

    student: str
    assignment: str
    status: Status
    score: float
    max_score: float
    message: str
    fingerprint: Fingerprint
    tests: tuple[TestResult, ...] = ()
    execution: Execution | None = None
    duration_s: float = 0.0
    model_score: ModelScore | None = None  # the homework's metrics; None for notebooks
    late: Lateness | None = None  # None: no deadline applies (or nothing was handed in)
    # The rubric's manual parts, with the student's answers; the TA's grades are applied when grades
    # are read (grader/store/manual.py), and `score` then includes their points. Empty: none to grade
    # (the rubric has none, or nothing was handed in).
    manual: tuple[ManualResult, ...] = ()

    @property
    def manual_points(self) -> float:
        """The points of the manual parts graded so far (part of `score`)."""
        return sum((m.grade.points for m in self.manual if m.grade is not None), 0.0)

    @property
    def awaiting_manual(self) -> bool:
        """An answer handed in is not graded yet (or changed since): the score is not final ("awaiting
        manual grading"). A part left unanswered counts 0 and waits for nobody (a TA may still grade it)."""
        return any(m.awaiting for m in self.manual)

    @property
    def late_penalty(self) -> float:
        """Points the late policy takes: a percentage of max_score, never more than was earned."""
        if self.late is None or not self.late.penalty_percent:
            return 0.0
        return min(self.score, self.max_score * self.late.penalty_percent / 100)

    @property
    def final_score(self) -> float:
        """max(0, raw score - late penalty): what an LMS gets and the reports total."""
        return self.score - self.late_penalty


# -- Grade <-> plain data ------------------------------------------------------------------
# The keys of a ModelScore's plain form, in the order the homework always wrote them: each
# group is present as a whole (nulls included) once grading reached it, absent before.
