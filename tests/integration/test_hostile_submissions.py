"""Hostile and broken submissions, graded in the real sandbox beside an honest one.

The submissions are files under tests/fixtures/hostile/ (its README says what each one
tries). The class is graded once; then each file's result is checked against EXPECTED:
every bad input becomes that student's own result with a status and a message saying why,
the honest student keeps full marks, and nothing reaches the course files, the network or
the host's file system.
"""

from __future__ import annotations

import re
import shutil
import socket
import threading
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from grader.kinds import load_course
from grader.discover import discover
from grader.models import Grade, Status
from grader.options import GradingOptions
from grader.pipeline.pool import grade_class
from grader.sandbox.bwrap import SANDBOX_UID_BASE, GiB, Limits
from grader.store.gradebook import Gradebook
from tests.conftest import REPO, requires_sandbox

pytestmark = [pytest.mark.sandbox, requires_sandbox]

HOSTILE = REPO / "tests" / "fixtures" / "hostile"
GOOD = "import torch\ndef double(x):\n    return x * 2\n"
LIMITS = Limits(cell_timeout_s=8, submission_timeout_s=20, call_timeout_s=5, memory_bytes=1 * GiB,
                max_output_bytes=4 * 1024 * 1024)


@dataclass(frozen=True)
class Expected:
    """What must come of one fixture: its status, its score out of 3, and why."""

    status: Status | tuple[Status, ...]  # a tuple only where the host decides (see forkbomb)
    score: float
    message: tuple[str, ...] = ()  # one of these is in the grade's message ("" if none listed)
    tests_say: str = ""  # in the messages of the tests


REJECTED, ERROR, GRADED, TIMEOUT = Status.REJECTED, Status.ERROR, Status.GRADED, Status.TIMEOUT
EXPECTED: dict[str, Expected] = {
    "honest": Expected(GRADED, 3),
    # the probe's own results are checked in test_the_prober_reaches_nothing_and_cheats_in_vain
    "prober": Expected(GRADED, 0),
    "bad_json": Expected(REJECTED, 0, ("not valid JSON",)),
    "empty": Expected(REJECTED, 0, ("is empty (0 bytes)",)),
    "not_notebook": Expected(REJECTED, 0, ("not a Jupyter notebook",)),
    "nbformat3": Expected(REJECTED, 0, ("format 3",)),
    "linker": Expected(REJECTED, 0, ("symbolic link",)),
    "julia": Expected(REJECTED, 0, ("toy.ipynb runs the julia-1.9 kernel (Julia 1.9.3); the course grades Python",)),
    "zipslip": Expected(REJECTED, 0, ("unsafe path",)),
    "zipbomb": Expected(REJECTED, 0, ("zip bomb",)),
    "exits": Expected(ERROR, 0, ("exit code 3",)),
    "segfault": Expected(ERROR, 0, ("segmentation fault",)),
    "memory_bomb": Expected(ERROR, 0, ("memory limit",)),
    # ipykernel buffers a print flood in the kernel's own memory faster than it sends it:
    # depending on speed the output cap or the memory cap stops it first; both say why.
    "printer": Expected(ERROR, 0, ("printed more than 4 MiB", "memory limit")),
    "looper": Expected(TIMEOUT, 0, ("ran longer than 8 s",)),
    # sys.exit in a cell is an ordinary cell error in IPython; the functions defined before still count
    "sys_exit": Expected(GRADED, 3, ("raised SystemExit",)),
    # The fork bomb fills the process limit (RLIMIT_NPROC and the pids cgroup: 256) with processes
    # that spin forever, so its cell never finishes. Which limit ends it depends on the host: where
    # the spinning processes starve the kernel's heartbeat (2 cores: measured, after ~3 s) nbclient
    # declares the kernel dead (ERROR); where the heartbeat survives, the cell timeout stops it
    # (TIMEOUT). What the sandbox guarantees either way: never graded, no points, no test run against
    # it, and the other students graded as usual (the honest one keeps full marks). A kernel whose
    # heartbeat starved is still running: the student is told so, never that it exited.
    "forkbomb": Expected((ERROR, TIMEOUT), 0, ("the kernel stopped responding while running cell 2 (",
                                               "cell 2 ran longer than 8 s"), tests_say="not run: "),
    "html_output": Expected(GRADED, 3),
    # a call that never returns is interrupted after call_timeout_s and the same kernel serves the
    # next test: only the looping input (4 elements, the hidden test's) costs points
    "loops_when_called": Expected(GRADED, 1, tests_say="did not return within 5 s"),
    "exits_when_called": Expected(GRADED, 0, tests_say="kernel died while running double(...)"),
    # sabotaging the bridge only takes away the saboteur's own answers
    "breaks_the_bridge": Expected(GRADED, 0, tests_say="could not reach the notebook's code"),
}


def fixture_names() -> list[str]:
    return sorted(path.name.split(".", 1)[0] for path in HOSTILE.iterdir() if path.name != "README.md")


def notebook(*cells: str) -> str:
    return nbformat.writes(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells]))


def make_course(root: Path) -> Path:
    (root / "rubrics").mkdir(parents=True)
    (root / "rubrics" / "toy.yaml").write_text(
        "assignment: toy\nnotebook: toy.ipynb\nparts:\n  - name: Doubling\n    tests: {test_double: 2, test_shape: 1}\n")
    ref = root / "reference" / "toy"
    (ref / "tests" / "hidden").mkdir(parents=True)
    (ref / "tests" / "public").mkdir(parents=True)
    (ref / "toy.ipynb").write_text(notebook(GOOD))
    (ref / "canary.txt").write_text("SECRET-CANARY")
    (ref / "tests" / "public" / "test_public.py").write_text(
        "import torch\ndef test_shape(student):\n    assert tuple(student.double(torch.ones(3)).shape) == (3,), 'wrong shape'\n")
    (ref / "tests" / "hidden" / "test_hidden.py").write_text(
        "import torch\ndef test_double(student, reference):\n    x = torch.randn(4)\n    out = student.double(x)\n"
        "    assert isinstance(out, torch.Tensor), f'returned {out!r}, expected a tensor'\n"
        "    assert torch.equal(out, reference.double(x)), 'double(x) is not 2 * x'\n")
    return root


def hand_in(fixture: Path, subs: Path, course: Path, places: dict[str, str]) -> None:
    """One fixture as a student's hand-in: <name>.ipynb -> subs/<name>/toy.ipynb (with the
    prober's @...@ places filled in), <name>.zip -> subs/<name>.zip, <name>.symlink ->
    subs/<name>/toy.ipynb as a symlink to the course file the .symlink file names."""
    name, suffix = fixture.name.split(".", 1)
    if suffix == "zip":
        shutil.copyfile(fixture, subs / fixture.name)
        return
    (subs / name).mkdir()
    if suffix == "symlink":
        (subs / name / "toy.ipynb").symlink_to(course / fixture.read_text().strip())
        return
    text = fixture.read_text()
    for key, value in places.items():
        text = text.replace(f"@{key}@", value)
    (subs / name / "toy.ipynb").write_text(text)


@dataclass
class GradedClass:
    grades: dict[str, Grade]
    course: Path
    outside: Path
    accepted: list[object]


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> GradedClass:
    tmp = tmp_path_factory.mktemp("hostile")
    course = make_course(tmp / "course")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)
    accepted: list[object] = []
    threading.Thread(target=lambda: accepted.append(listener.accept()), daemon=True).start()
    places = {"CANARY": str(course / "reference" / "toy" / "canary.txt"), "PORT": str(listener.getsockname()[1]),
              "OUTSIDE": str(tmp / "outside.txt")}
    subs = tmp / "subs"
    subs.mkdir()
    for fixture in sorted(HOSTILE.iterdir()):
        if fixture.name != "README.md":
            hand_in(fixture, subs, course, places)

    loaded = load_course(course)
    with Gradebook(str(tmp / "g.db")) as store:
        result = grade_class(discover(subs, loaded), loaded, store, GradingOptions(limits=LIMITS, jobs=2))
    listener.close()
    return GradedClass({g.student: g for g in result.grades}, course, tmp / "outside.txt", accepted)


def test_every_fixture_has_an_expected_outcome() -> None:
    assert fixture_names() == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_bad_input_is_that_students_result(graded: GradedClass, name: str) -> None:
    grade, want = graded.grades[name], EXPECTED[name]
    statuses = want.status if isinstance(want.status, tuple) else (want.status,)
    tests_say = " | ".join(t.message for t in grade.tests)
    assert grade.status in statuses, (grade.status, grade.message, tests_say)
    assert grade.score == want.score, (grade.message, tests_say)
    assert grade.max_score == 3
    if want.message:
        assert any(part in grade.message for part in want.message), grade.message
    if grade.status is not GRADED:
        assert grade.message, "a student whose work was not graded is told why"
        assert all(t.message.startswith("not run: ") for t in grade.tests), tests_say
    assert want.tests_say in tests_say


def test_student_output_is_kept_verbatim_for_the_report_to_escape(graded: GradedClass) -> None:
    assert "<script>alert(1)</script>" in graded.grades["html_output"].execution.output_excerpt


def test_the_prober_reaches_nothing_and_cheats_in_vain(graded: GradedClass) -> None:
    probe = graded.grades["prober"]
    excerpt = probe.execution.output_excerpt
    assert "SECRET-CANARY" not in excerpt and "'read_reference': 'DENIED" in excerpt
    assert "'connect': 'DENIED" in excerpt and not graded.accepted
    assert "'write_outside': 'DENIED" in excerpt and not graded.outside.exists()
    uid = re.search(r"'uid': (\d+)", excerpt)
    assert uid and int(uid[1]) >= SANDBOX_UID_BASE, excerpt  # a sandbox slot's own uid, not root
    assert "All tests passed! 3/3" in excerpt  # its fake claim was printed, and changed nothing:
    assert probe.score == 0, "monkeypatching torch or an always-equal object must not pass a check"
    assert (graded.course / "reference" / "toy" / "canary.txt").read_text() == "SECRET-CANARY"


def test_the_kernel_stage_records_what_a_ta_should_look_at(graded: GradedClass) -> None:
    """Tamper signals are recorded where they are seen (grader.kernel.tamper), not read from messages later."""
    from grader.models import SignalKind

    def kinds(name: str) -> set[SignalKind]:
        execution = graded.grades[name].execution
        return {s.kind for s in execution.signals} if execution else set()

    assert SignalKind.KILLED in kinds("exits") and SignalKind.KILLED in kinds("segfault")
    assert SignalKind.SUCCESS_CLAIM in kinds("prober")  # "All tests passed! 3/3", graded 0/3
    assert kinds("honest") == set() and kinds("looper") == set()
