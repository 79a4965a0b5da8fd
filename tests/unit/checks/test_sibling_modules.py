"""grader/checks/sibling_modules.py: a course's helper module beside its hidden tests, loaded by path."""

from __future__ import annotations

import os
from pathlib import Path

from grader.checks.sibling_modules import load_beside
from grader.kinds import load_course
from grader.students.release import public_test_files
from tests.conftest import REPO


def test_a_helper_is_loaded_by_path_named_by_it_and_again_after_a_change(tmp_path: Path) -> None:
    for course in ("a", "b"):
        (tmp_path / course).mkdir()
        (tmp_path / course / "helpers_x.py").write_text(f"from dataclasses import dataclass\nCOURSE = {course!r}\n"
                                                       "@dataclass\nclass Point:\n    x: int\n")
    a = load_beside(tmp_path / "a" / "test_a.py", "helpers_x.py")
    b = load_beside(tmp_path / "b" / "test_b.py", "helpers_x.py")
    assert (a.COURSE, b.COURSE) == ("a", "b") and a.__name__ != b.__name__  # same file name, two courses
    assert load_beside(tmp_path / "a" / "test_a.py", "helpers_x.py") is a
    path = tmp_path / "a" / "helpers_x.py"
    path.write_text("COURSE = 'edited'\n")
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000))
    assert load_beside(tmp_path / "a" / "test_a.py", "helpers_x.py").COURSE == "edited"


def test_notebook_03s_helper_is_fingerprinted_and_never_released() -> None:
    assignment = load_course(REPO).assignments["03_rnns_sequences"]
    helper = assignment.hidden_tests / "helpers_recurrent.py"
    assert helper.is_file() and helper in set(assignment.tests_root.rglob("*.py"))  # what hashes["tests_hash"] reads
    assert helper not in assignment.test_files()  # not a test module: pytest is never handed it
    assert all("hidden" not in p.parts for p in public_test_files(assignment))
