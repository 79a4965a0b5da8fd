"""Run an assignment's test files with pytest, in the trusted process, against a student.

Outcomes are read from pytest's report objects through hooks, never from printed
text, so nothing a student prints can pass a test.
"""

from __future__ import annotations

import os
import random
import time
import types
from pathlib import Path
from typing import Any

import pytest

from grader.kernel.bridge import StudentCodeError

SEED = 0


class GradePlugin:
    """Provides the `student` and `reference` fixtures and records every outcome."""

    def __init__(self, student: Any, reference: types.ModuleType) -> None:
        self._student = student
        self._reference = reference
        self.outcomes: dict[str, tuple[str, str, float]] = {}
        self.collected: list[str] = []
        self.collection_errors: list[str] = []

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
        torch.manual_seed(SEED)

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        self.collected = [item.name for item in items]

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.collection_errors.append(str(report.longrepr)[-2000:])

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo) -> Any:
        outcome = yield
        report = outcome.get_result()
        name = item.name
        if report.when == "call" or report.failed or report.skipped:
            if report.passed:
                self.outcomes[name] = ("passed", "", call.duration)
            elif report.skipped:
                self.outcomes[name] = ("skipped", _message(call.excinfo), call.duration)
            elif report.when == "call":
                self.outcomes[name] = ("failed", _message(call.excinfo), call.duration)
            elif name not in self.outcomes:
                self.outcomes[name] = ("error", _message(call.excinfo), call.duration)


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


def run_checks(test_files: list[Path], *, student: Any, reference: types.ModuleType,
               rootdir: Path) -> GradePlugin:
    """Run the test files once; returns the plugin holding outcomes and collected names."""
    plugin = GradePlugin(student, reference)
    args = [
        *map(str, test_files),
        "-p", "no:cacheprovider", "-p", "no:terminal", "-p", "no:randomly",
        # its gc.collect() at session end costs 0.15-0.3 s per submission with torch loaded
        "-p", "no:unraisableexception",
        "--import-mode=importlib", "--assert=plain", f"--rootdir={rootdir}", "-c", os.devnull,
        "-W", "ignore::DeprecationWarning",
    ]
    started = time.monotonic()
    pytest.main(args, plugins=[plugin])
    plugin.duration_s = time.monotonic() - started  # type: ignore[attr-defined]
    return plugin
