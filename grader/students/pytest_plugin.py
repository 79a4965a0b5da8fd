"""grade's pytest plugin: plain `pytest` in a released student repo runs the public tests.

Registered through the `pytest11` entry point, so it loads wherever grade is installed,
and stays inert unless the pytest config says `grade_release = true` (the pytest.ini that
`grade release` writes). Then `tests/<assignment>/test_*.py` get the same `student` fixture
as in the instructor's run: the student's notebook executed once in a kernel (sandboxed
where the machine allows), reached through the bridge; and every random source is
seeded before each test, as in the instructor's run.
"""

from __future__ import annotations

import json
import random
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest

INI = "grade_release"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(INI, "set by `grade release`: run the public tests on this repo's notebooks", type="bool",
                  default=False)
    group = parser.getgroup("grade")
    group.addoption("--grade-notebooks", default=None, help="folder holding your notebooks (default: the repo root)")
    group.addoption("--grade-no-sandbox", action="store_true", default=False,
                    help="run your notebooks without the sandbox even where one exists")


def pytest_configure(config: pytest.Config) -> None:
    if config.getini(INI):
        config.pluginmanager.register(StudentNotebooks(config), "grade-student-notebooks")


class StudentNotebooks:
    """One kernel per notebook, started when a test first asks for `student`, stopped at the end."""

    def __init__(self, config: pytest.Config) -> None:
        self.root = config.rootpath
        manifest = json.loads((self.root / ".grade" / "release.json").read_text())
        self.notebooks = {entry["name"]: entry["notebook"] for entry in manifest["assignments"]}
        option = config.getoption("--grade-notebooks")
        self.folder = Path(option).resolve() if option else self.root
        self.force_off = bool(config.getoption("--grade-no-sandbox"))
        self.sessions: dict[str, Any] = {}  # assignment -> (KernelSession, student proxy) or the failure message
        self.scratch: list[Path] = []
        self.sandbox_note = ""

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        return [f"grade: notebooks from {self.folder}; sandbox decided at the first test"]

    @pytest.fixture
    def student(self, request: pytest.FixtureRequest) -> Any:
        assignment = self._assignment(request.path)
        if assignment not in self.sessions:
            self.sessions[assignment] = self._start(assignment)
        started = self.sessions[assignment]
        if isinstance(started, str):
            pytest.fail(started, pytrace=False)
        return started[1]

    @pytest.fixture(autouse=True)
    def _seed_everything(self) -> None:
        import numpy
        import torch

        from grader.checks.runner import SEED

        random.seed(SEED)
        numpy.random.seed(SEED)
        torch.manual_seed(SEED)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo) -> Any:
        """A failure reads as in the instructor's run: the check's message, not the bridge's traceback."""
        from grader.kernel.bridge import StudentCodeError
        from grader.checks.runner import _message

        outcome = yield
        report = outcome.get_result()
        if call.excinfo is not None and isinstance(call.excinfo.value, (AssertionError, StudentCodeError)):
            report.longrepr = f"{item.nodeid}: {_message(call.excinfo)}"

    def _assignment(self, path: Path) -> str:
        try:
            name = path.resolve().relative_to(self.root / "tests").parts[0]
        except (ValueError, IndexError):
            name = ""
        if name not in self.notebooks:
            pytest.fail(f"{path} is not under tests/<assignment>/ of this release; the `student` fixture "
                        "needs to know which notebook to run", pytrace=False)
        return name

    def _start(self, assignment: str) -> Any:
        """Run the notebook in a kernel; a message (str) for every test when it cannot be run."""
        from grader.kernel.bridge import student_namespace
        from grader.students.check import use_sandbox
        from grader.errors import SubmissionRejected
        from grader.kernel.execute import KernelSession
        from grader.models import Status
        from grader.prepare import load_notebook
        from grader.sandbox.bwrap import Limits, Sandbox, SandboxPaths

        name = self.notebooks[assignment]
        path = self.folder / name
        if not path.is_file():
            return f"not run: {name} not found in {self.folder}"
        limits = Limits()
        sandboxed, why = use_sandbox("off" if self.force_off else "auto", limits)
        if why and not self.sandbox_note:
            self.sandbox_note = why
        scratch = Path(tempfile.mkdtemp(prefix="grade-pytest-"))
        self.scratch.append(scratch)
        paths = SandboxPaths(workdir=scratch / "work", runtime=scratch / "run")
        paths.workdir.mkdir()
        paths.runtime.mkdir()
        shutil.copyfile(path, paths.workdir / name)  # only the notebook goes in, as in `grade check`
        try:
            notebook = load_notebook(paths.workdir / name, name)
        except SubmissionRejected as error:
            return f"not run: {error}"
        session = KernelSession(paths, limits, Sandbox(0, limits) if sandboxed else None)
        session.__enter__()
        execution = session.run_notebook(notebook)
        if execution.status is not Status.GRADED:
            session.__exit__(None, None, None)
            return f"not run: {execution.message}"
        return session, student_namespace(session.bridge)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.sandbox_note:
            terminalreporter.write_line(f"grade: {self.sandbox_note}")

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        for started in self.sessions.values():
            if not isinstance(started, str):
                started[0].__exit__(None, None, None)
        for scratch in self.scratch:
            shutil.rmtree(scratch, ignore_errors=True)
