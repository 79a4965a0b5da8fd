"""Run an assignment's test files with pytest, in the trusted process, against a student.

Outcomes are read from pytest's report objects through hooks, never from printed
text, so nothing a student prints can pass a test. A failure raised by a check helper
(grader.checks.tensors.CheckFailed) also brings its student's version of the message,
recorded as it is, with the paths of course files replaced. A failed self-check of the
grader's own computations (grader.checks.selfcheck.SelfCheckFailed) is the course's mistake:
raise_for_self_checks turns it into an InstructorError instead of a student's result.
"""

from __future__ import annotations

import os
import random
import re
import sys
import time
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from grader.checks.memo import memoising_reference
from grader.checks.selfcheck import SelfCheckFailed
from grader.checks.tensors import CheckFailed
from grader.errors import InstructorError, course_file
from grader.kernel.bridge import StudentCodeError
from grader.models import Outcome, Signal

SEED = 0
COURSE_FILE = "[course file]"


@dataclass(frozen=True)
class CollectionError:
    """A test file pytest could not import: a mistake in the course, never the student's."""

    path: str  # relative to the rootdir, as pytest names it
    error: str  # one line, e.g. "SyntaxError: invalid syntax (line 12)"


@dataclass(frozen=True)
class SelfCheckFailure:
    """A test whose check of the grader's own computations failed: a mistake in the course, never the student's."""

    test: str
    path: str  # its file, relative to the rootdir
    what: str  # the check, e.g. "reference vs F.sdpa"


class GradePlugin:
    """Provides the `student` and `reference` fixtures and records every outcome."""

    def __init__(self, student: Any, reference: types.ModuleType, rootdir: Path | None = None) -> None:
        self._student = student
        self._reference = reference
        self._rootdir = rootdir  # the assignment's folder: paths under it are course files
        self.outcomes: dict[str, tuple[Outcome, str, float]] = {}
        self.signals: dict[str, tuple[Signal, ...]] = {}  # test name -> what its checks saw (grader.checks.tensors)
        # test name -> what a student may read of its failure, when a check helper wrote it (CheckFailed.for_student)
        self.student_messages: dict[str, str] = {}
        self.collected: list[str] = []
        self.files: dict[str, str] = {}  # test name -> its file, relative to the rootdir
        self.collection_errors: list[CollectionError] = []
        self.self_check_failures: list[SelfCheckFailure] = []

    @pytest.fixture
    def student(self) -> Any:
        return self._student

    @pytest.fixture
    def reference(self) -> types.ModuleType:
        return self._reference

    @pytest.fixture(autouse=True)
    def _seed_everything(self) -> None:
        """Every random source seeded before each check, so a verdict can be replayed."""
        import numpy
        import torch

        random.seed(SEED)
        numpy.random.seed(SEED)
        seed_torch(SEED)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """Failed tests' reports in pytest's cheap native style: only the exception's message is kept
        (_message), and the default long style re-reads and parses the test file for every frame of
        every failure (0.1-0.4 s per failed test). Collection errors, parsed from their report, were
        formatted before this, as before."""
        session.config.option.tbstyle = "native"

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        self.collected = [item.name for item in items]
        self.files = {item.name: item.nodeid.split("::", 1)[0] for item in items}

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            error = _collection_error(str(report.longrepr), report.nodeid)
            self.collection_errors.append(CollectionError(report.nodeid, error))

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo) -> Any:
        outcome = yield
        report = outcome.get_result()
        name = item.name
        error = call.excinfo.value if call.excinfo is not None else None
        if isinstance(error, SelfCheckFailed):
            self.self_check_failures.append(SelfCheckFailure(name, item.nodeid.split("::", 1)[0], error.what))
        if report.when == "call" or report.failed or report.skipped:
            if report.passed:
                self.outcomes[name] = (Outcome.PASSED, "", call.duration)
            elif report.skipped:
                self.outcomes[name] = (Outcome.SKIPPED, _message(call.excinfo), call.duration)
            elif report.when == "call":
                self.outcomes[name] = (Outcome.FAILED, _message(call.excinfo), call.duration)
                self.signals[name] = _signals(call.excinfo)
                self._record_student_message(name, call.excinfo)
            elif name not in self.outcomes:
                self.outcomes[name] = (Outcome.ERROR, _message(call.excinfo), call.duration)
                self._record_student_message(name, call.excinfo)

    def _record_student_message(self, name: str, excinfo: Any) -> None:
        error = excinfo.value if excinfo is not None else None
        if isinstance(error, CheckFailed):
            self.student_messages[name] = self._without_course_paths(error.for_student)[:2000]

    def _without_course_paths(self, text: str) -> str:
        """Every path into the assignment's folder (its hidden tests, its reference) replaced by COURSE_FILE."""
        if self._rootdir is None:
            return text
        roots = sorted({str(self._rootdir), str(self._rootdir.resolve())}, key=len, reverse=True)
        # the folder itself or anything under it, to the end of the path
        paths = "|".join(re.escape(root) + r"(?=[/\s'\":,)]|$)[^\s'\":,)]*" for root in roots)
        return re.sub(paths, COURSE_FILE, text)


_accelerators: bool | None = None


def seed_torch(seed: int) -> None:
    """torch.manual_seed(seed), without its cost where this host has no accelerator.

    torch.manual_seed also queues a seed for every accelerator not yet initialised, and records
    the caller's stack (traceback.format_stack) each time: 3-4 ms per test under pytest's deep
    stack. With no accelerator available none can ever be initialised, so seeding the CPU
    generator is all it does."""
    global _accelerators
    import torch

    if _accelerators is None:
        _accelerators = (torch.cuda.is_available() or torch.xpu.is_available() or torch.mtia.is_available()
                         or torch.backends.mps.is_available()
                         or hasattr(torch, torch._C._get_privateuse1_backend_name()))
    if _accelerators:
        torch.manual_seed(seed)
    else:
        torch.default_generator.manual_seed(seed)


def _signals(excinfo: Any) -> tuple[Signal, ...]:
    """The signals an assertion helper attached to its failure (grader.checks.tensors.NotATensor)."""
    found = getattr(excinfo.value, "signals", ()) if excinfo is not None else ()
    return tuple(s for s in found if isinstance(s, Signal)) if isinstance(found, tuple) else ()


def _message(excinfo: Any) -> str:
    if excinfo is None:
        return ""
    error = excinfo.value
    if isinstance(error, (AssertionError, StudentCodeError)):
        text = str(error) or "assertion failed"
    elif isinstance(error, pytest.skip.Exception):
        text = str(error)
    else:
        text = f"{type(error).__name__}: {error}"
    return text[:2000]


def _collection_error(longrepr: str, path: str) -> str:
    """The last error line of pytest's collection report, with the test file's line number when it names one."""
    lines = longrepr.splitlines()
    errors = [line[1:].strip() for line in lines if line.startswith("E ")]
    error = errors[-1] if errors else (lines[-1].strip() if lines else "unknown error")
    name = re.escape(Path(path).name)
    numbers = re.findall(rf'{name}(?:", line |:)(\d+)', longrepr)
    return f"{error} (line {numbers[-1]})" if numbers else error


def raise_for_collection(plugin: GradePlugin, rootdir: Path) -> None:
    """Test files that do not import stop the run, naming each file: the course is broken, not a submission."""
    if plugin.collection_errors:
        files = "; ".join(f"{course_file(rootdir / e.path)}: {e.error}" for e in plugin.collection_errors)
        first = course_file(rootdir / plugin.collection_errors[0].path)
        raise InstructorError(f"test files that cannot be collected: {files}; fix them "
                              f"(`pytest --collect-only {first}` shows the whole error)")


def raise_for_self_checks(plugin: GradePlugin, rootdir: Path, *, grading: str) -> None:
    """A failed self-check stops the run, naming each test, its file and the check: never a student's lost points.

    `grading`: whose submission was being graded, e.g. "ann's 05_attention_mechanism" (the
    pre-flight passed, so the disagreement depends on this run: its inputs or this host)."""
    if plugin.self_check_failures:
        failures = "; ".join(f"{failure.test} ({course_file(rootdir / failure.path)}): {failure.what}"
                             for failure in plugin.self_check_failures)
        raise InstructorError(f"hidden tests failed the grader's self-check while grading {grading}: {failures}; "
                              "the grader's own computations disagree (the reference and PyTorch, or the test's "
                              "helpers), so no student is graded on them: fix the reference or the test")


def run_checks(test_files: list[Path], *, student: Any, reference: types.ModuleType,
               rootdir: Path) -> GradePlugin:
    """Run the test files once; returns the plugin holding outcomes and collected names."""
    plugin = GradePlugin(student, memoising_reference(reference), rootdir)
    started = time.monotonic()
    forget_stale_test_modules(test_files, rootdir)
    pytest.main(_arguments(test_files, rootdir), plugins=[plugin])
    _remember_test_modules(test_files, rootdir)
    plugin.duration_s = time.monotonic() - started  # type: ignore[attr-defined]
    return plugin


def collect_tests(test_files: list[Path], *, rootdir: Path) -> GradePlugin:
    """Collection only (nothing runs, no `student` needed): the test names and the files that do not import."""
    plugin = GradePlugin(student=None, reference=types.ModuleType("no_reference"))
    if test_files:  # with no files pytest would collect the working folder instead
        forget_stale_test_modules(test_files, rootdir)
        pytest.main([*_arguments(test_files, rootdir), "--collect-only"], plugins=[plugin])
        _remember_test_modules(test_files, rootdir)
    return plugin


# pytest's importlib mode names a test module by its path below --rootdir (the assignment's
# folder: tests.hidden.test_05_hidden) and reuses a module already in sys.modules under that
# name. In a process that runs suites more than once (a worker, the pre-flight), a test file
# edited since, or the same assignment in another course folder, would run the old code.
_MTIME = "__grade_test_mtime_ns__"


def _module_name(path: Path, rootdir: Path) -> str | None:
    try:
        return ".".join(path.resolve().relative_to(rootdir.resolve()).with_suffix("").parts)
    except ValueError:
        return None


def forget_stale_test_modules(test_files: list[Path], rootdir: Path) -> None:
    """Drop a loaded module that would stand in for one of these test files but is another file,
    or this file before its last change."""
    for path in test_files:
        name = _module_name(path, rootdir)
        module = sys.modules.get(name or "")
        if module is None:
            continue
        file = getattr(module, "__file__", None)
        try:
            same = (file is not None and Path(file).resolve() == path.resolve()
                    and path.stat().st_mtime_ns == getattr(module, _MTIME, None))
        except OSError:
            same = False
        if not same:
            del sys.modules[name]  # type: ignore[arg-type]


def _remember_test_modules(test_files: list[Path], rootdir: Path) -> None:
    """Stamp each loaded test module with its file's modification time, for the next run."""
    for path in test_files:
        module = sys.modules.get(_module_name(path, rootdir) or "")
        if module is not None and not hasattr(module, _MTIME):
            try:
                setattr(module, _MTIME, path.stat().st_mtime_ns)
            except OSError:
                pass


def _arguments(test_files: list[Path], rootdir: Path) -> list[str]:
    return [
        *map(str, test_files),
        "-p", "no:cacheprovider", "-p", "no:terminal", "-p", "no:randomly",
        # its gc.collect() at session end costs 0.15-0.3 s per submission with torch loaded
        "-p", "no:unraisableexception",
        # its log capture wraps every phase of every test in handlers: no check reads the log
        "-p", "no:logging",
        # the course root (the rootdir is reference/<name>/): conftest files up to it load as before; with
        # `-c /dev/null` pytest would otherwise walk from / and list every folder on the way (all of /tmp)
        f"--confcutdir={rootdir.parent.parent}",
        "--import-mode=importlib", "--assert=plain", f"--rootdir={rootdir}", "-c", os.devnull,
        "-W", "ignore::DeprecationWarning",
    ]
