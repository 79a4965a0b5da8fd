"""An audit end to end: generate mutants, drop the equivalent ones, grade the rest, score the suite.

Mutants are graded as a class of students through the real pipeline (grade_class: the
sandbox, the course's pre-flight, --jobs workers) into a gradebook of the audit's own,
`<course>/.grade/audit/<assignment>.db`, so a second audit reuses every result whose
fingerprint (the mutant's bytes; the tests, reference and rubric hashes; the grader's
version) is unchanged, as grading does. Equivalence verdicts are kept beside it, in
`<assignment>.probes.json`, valid while the reference and the probe are unchanged.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import nbformat

from grader import __version__
from grader.audit.coverage import covering_tests
from grader.audit.equivalence import PROBE_SOURCE, Verdict, equivalence_verdicts
from grader.audit.generate import Mutant, generate_mutants, sample
from grader.audit.loss import SMALL_LOSS, PartLoss, main_part, part_losses, share_of
from grader.audit.operators import BY_NAME, OPERATORS
from grader.course.assignments import Assignment, Course
from grader.errors import GradeError
from grader.models import Grade, Outcome, Status
from grader.options import GradingOptions
from grader.sandbox.interpreter import Interpreter
from grader.sandbox.limits import Limits

DEFAULT_MAX_MUTANTS = 40  # 25 mutants took 2.5-5 min per notebook on 2 busy cores with --jobs 2


@dataclass(frozen=True)
class AuditOptions:
    jobs: int = 2
    max_mutants: int = DEFAULT_MAX_MUTANTS
    seed: int = 0
    operators: tuple[str, ...] = ()  # names from grader/audit/operators.py; empty: all
    sandbox: bool = True
    limits: Limits = Limits()
    kernel: Interpreter | None = None  # the students' environment (grader/course/environment.py); None: grade's


@dataclass(frozen=True)
class MutantResult:
    mutant: Mutant
    equivalent: bool
    why: str  # the equivalence verdict's reason
    tests: tuple[str, ...]  # the tests that mention the mutated function: those it should fail
    grade: Grade | None = None  # None for an equivalent mutant (not graded)

    @property
    def caught(self) -> bool:
        return self.grade is not None and (self.grade.status is not Status.GRADED
                                           or self.grade.score < self.grade.max_score)

    @property
    def points_lost(self) -> float:
        return 0.0 if self.grade is None else round(self.grade.max_score - self.grade.score, 4)

    @property
    def failed_tests(self) -> tuple[str, ...]:
        if self.grade is None:
            return ()
        return tuple(t.test_id for t in self.grade.tests if t.outcome is not Outcome.PASSED)

    @property
    def part_losses(self) -> tuple[PartLoss, ...]:
        """The points lost in each part (grader/audit/loss.py)."""
        return part_losses(self.grade)

    @property
    def parts(self) -> tuple[str, ...]:
        """The rubric parts of the tests that mention the mutated function (where a survivor should have lost)."""
        if self.grade is None:
            return ()
        return tuple(dict.fromkeys(t.part for t in self.grade.tests if t.test_id in self.tests))

    @property
    def part(self) -> PartLoss | None:
        """The part the mutant belongs to: where it lost the most points."""
        return main_part(self.part_losses)


@dataclass(frozen=True)
class AuditReport:
    assignment: str
    hashes: dict[str, str]
    max_score: float
    generated: int  # every mutant the operators produced
    results: list[MutantResult]  # the ones audited (all of them, or a sample)
    seconds: float
    jobs: int
    seed: int
    operators: tuple[str, ...]
    sampled: bool
    reused: int  # grades taken from an earlier audit
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def equivalent(self) -> list[MutantResult]:
        return [r for r in self.results if r.equivalent]

    @property
    def graded(self) -> list[MutantResult]:
        return [r for r in self.results if not r.equivalent]

    @property
    def caught(self) -> list[MutantResult]:
        return [r for r in self.graded if r.caught]

    @property
    def survivors(self) -> list[MutantResult]:
        return [r for r in self.graded if not r.caught]

    @property
    def mutation_score(self) -> float:
        return len(self.caught) / len(self.graded) if self.graded else 1.0

    def share_of_notebook(self, result: MutantResult) -> float:
        return share_of(result.points_lost, self.max_score)

    @property
    def small_losses(self) -> list[MutantResult]:
        """The caught mutants that lose under 10% of the notebook's points."""
        return [r for r in self.caught if self.share_of_notebook(r) < SMALL_LOSS - 1e-9]

    def by_operator(self) -> dict[str, tuple[int, int, int, int]]:
        """operator -> (audited, equivalent, graded, caught)."""
        table: dict[str, tuple[int, int, int, int]] = {}
        for result in self.results:
            a, e, g, c = table.get(result.mutant.operator, (0, 0, 0, 0))
            table[result.mutant.operator] = (a + 1, e + result.equivalent, g + (not result.equivalent),
                                             c + result.caught)
        return dict(sorted(table.items(), key=lambda item: [o.name for o in OPERATORS].index(item[0])))


@dataclass
class Progress:
    """What the command shows while an audit runs; every callback may be left as is."""

    phase: Callable[[str, int], None] = lambda description, total: None  # a new phase with `total` steps
    advance: Callable[[], None] = lambda: None


def audit_dir(assignment: Assignment) -> Path:
    return assignment.course_root / ".grade" / "audit"


def run_audit(course: Course, name: str, options: AuditOptions, progress: Progress | None = None) -> AuditReport:
    """Audit one assignment's hidden tests; raises GradeError for what the instructor must fix."""
    from grader.pipeline.notebook import NotebookKind

    progress = progress or Progress()
    started = time.monotonic()
    if name not in course.assignments:
        raise GradeError(f"unknown assignment {name!r}; known: {', '.join(course.assignments)}")
    assignment = course.assignments[name]
    if not isinstance(assignment.kind, NotebookKind):
        raise GradeError(f"{name} is a {assignment.kind.name} assignment: students hand in no solution code that "
                         "grade audit could mutate (it audits notebook assignments, whose reference has "
                         "### BEGIN SOLUTION regions)")
    unknown = [o for o in options.operators if o not in BY_NAME]
    if unknown:
        raise GradeError(f"unknown operator(s) {', '.join(unknown)}; known: {', '.join(BY_NAME)}")
    operators = tuple(BY_NAME[o] for o in options.operators) or OPERATORS
    reference = nbformat.read(assignment.reference_notebook, as_version=4)
    everything = generate_mutants(reference, operators)
    if not everything:
        raise GradeError(f"{assignment.reference_notebook}: no mutant could be made; does the reference mark its "
                         "solutions with ### BEGIN SOLUTION / ### END SOLUTION?")
    mutants = sample(everything, options.max_mutants, options.seed)
    grading = GradingOptions(sandbox=options.sandbox, limits=options.limits, jobs=options.jobs,
                             kernel=options.kernel)
    folder = audit_dir(assignment)
    folder.mkdir(parents=True, exist_ok=True)
    verdicts, note = _verdicts(assignment, reference, mutants, grading, folder, progress)
    notes = (note,) if note else ()
    to_grade = [m for m in mutants if not verdicts[m.id].equivalent]
    grades, reused = _grade(course, assignment, reference, to_grade, grading, folder, progress)
    test_files = assignment.test_files()
    coverage = {scope: tuple(covering_tests(test_files, scope)) for scope in {m.scope for m in mutants}}
    results = [MutantResult(m, verdicts[m.id].equivalent, verdicts[m.id].why, coverage[m.scope], grades.get(m.id))
               for m in mutants]
    return AuditReport(assignment=name, hashes=dict(assignment.hashes), max_score=assignment.rubric.auto_max_score,
                       generated=len(everything), results=results, seconds=time.monotonic() - started,
                       jobs=options.jobs, seed=options.seed, operators=tuple(o.name for o in operators),
                       sampled=len(mutants) < len(everything), reused=reused, notes=notes)


def _verdicts(assignment: Assignment, reference: nbformat.NotebookNode, mutants: list[Mutant],
              options: GradingOptions, folder: Path, progress: Progress) -> tuple[dict[str, Verdict], str]:
    """Equivalence verdicts, from the cache where the reference and the probe are unchanged."""
    cache_path = folder / f"{assignment.name}.probes.json"
    key = hashlib.sha256(f"{assignment.hashes['reference_hash']}\0{__version__}\0{PROBE_SOURCE}\0"
                         f"{options.sandbox}".encode()).hexdigest()
    cached: dict[str, list] = {}
    if cache_path.is_file():
        try:
            stored = json.loads(cache_path.read_text())
            cached = stored["verdicts"] if stored.get("key") == key else {}
        except (ValueError, KeyError, TypeError):
            cached = {}
    verdicts = {m.id: Verdict(bool(cached[m.id][0]), str(cached[m.id][1])) for m in mutants if m.id in cached}
    todo = [m for m in mutants if m.id not in verdicts]
    note = ""
    if todo:
        progress.phase("probing for equivalent mutants", len(todo))
        fresh, note, reference_probed = equivalence_verdicts(reference, todo, assignment.notebook, options,
                                                             on_done=lambda index: progress.advance())
        verdicts |= fresh
        if reference_probed:
            cached |= {mutant_id: [v.equivalent, v.why] for mutant_id, v in fresh.items()}
            cache_path.write_text(json.dumps({"key": key, "verdicts": cached}, indent=1))
    return verdicts, note


def _grade(course: Course, assignment: Assignment, reference: nbformat.NotebookNode, mutants: list[Mutant],
           options: GradingOptions, folder: Path, progress: Progress) -> tuple[dict[str, Grade], int]:
    """Grade every mutant as a student of its own, through the pipeline, into the audit's gradebook."""
    from grader.discover import discover
    from grader.pipeline.pool import grade_class
    from grader.store.gradebook import Gradebook

    if not mutants:
        return {}, 0
    with tempfile.TemporaryDirectory(prefix="grade-audit-") as tmp:
        root = Path(tmp)
        for mutant in mutants:
            (root / mutant.id).mkdir()
            nbformat.write(mutant.notebook(reference), root / mutant.id / assignment.notebook)
        submissions = discover(root, course, only={assignment.name})
        with Gradebook(str(folder / f"{assignment.name}.db")) as store:
            result = grade_class(submissions, course, store, options,
                                 on_phase=lambda description: progress.phase(description, 0),
                                 on_start=lambda total: progress.phase("grading mutants", total),
                                 on_grade=lambda grade, reused: progress.advance())
    # The tests' points only: a manual part (a written answer) is for a TA, not for the hidden suite.
    manual_max = assignment.rubric.max_score - assignment.rubric.auto_max_score
    return {g.student: replace(g, max_score=g.max_score - manual_max) for g in result.grades}, result.reused
