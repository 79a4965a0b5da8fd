"""pipeline/preflight.py: the course is checked for the assignments with something to grade, once."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.errors import InstructorError
from grader.pipeline.preflight import check_course
from tests.unit.pipeline.test_submission import scripted_course


def test_only_the_named_assignments_are_checked_and_each_once_per_content(tmp_path: Path) -> None:
    course = scripted_course(tmp_path, "a1", "a2", "a3")
    kind = course.assignments["a1"].kind
    check_course(course, ["a2", "a1", "a2"])
    check_course(course, ["a1"])  # unchanged since: not checked again
    assert kind.checked == ["a1", "a2"]  # type: ignore[attr-defined]
    check_course(course, [])
    assert "a3" not in kind.checked  # type: ignore[attr-defined]


def test_the_first_broken_assignment_stops_the_check_and_is_checked_again_next_time(tmp_path: Path) -> None:
    course = scripted_course(tmp_path, "a1", "a2", broken=("a1",))
    kind = course.assignments["a1"].kind
    for _ in range(2):
        with pytest.raises(InstructorError, match=r"a1.yaml: broken on purpose"):
            check_course(course, ["a1", "a2"])
    assert kind.checked == ["a1", "a1"]  # type: ignore[attr-defined]


def test_the_check_runs_with_the_workers_torch_threads_and_restores_them(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    course = scripted_course(tmp_path, "threads")
    kind = course.assignments["threads"].kind
    seen: list[int] = []
    original = type(kind).check_course
    monkeypatch.setattr(type(kind), "check_course",
                        lambda self, assignment: (seen.append(torch.get_num_threads()), original(self, assignment)))
    before = torch.get_num_threads()
    check_course(course, ["threads"], torch_threads=1)
    assert seen == [1] and torch.get_num_threads() == before
