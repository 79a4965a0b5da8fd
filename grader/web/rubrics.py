"""The manual parts the grading pages show: each assignment's rubric items and comment
templates, read from the course's rubrics/ (the same files `grade` grades with).

The rubrics are read once and again whenever a rubric file changes (its mtime), so an
instructor's edit shows without restarting `grade serve`. A rubric that does not load is
logged and left out; the queue still lists its answers (from the gradebook), and the grading
page says the rubric is missing instead of guessing its items.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from grader.course.rubric import load_rubric
from grader.errors import GradeError

log = logging.getLogger("grader.web")


class CourseRubrics:
    """assignment -> {answer id -> ManualPart}, from <course>/rubrics/*.yaml."""

    def __init__(self, course_dir: Path | None) -> None:
        self._folder = None if course_dir is None else Path(course_dir) / "rubrics"
        self._lock = threading.Lock()
        self._stamp: tuple[tuple[str, float], ...] | None = None
        self._parts: dict[str, dict[str, Any]] = {}

    def part(self, assignment: str, answer: str) -> Any | None:
        """The rubric's ManualPart whose answer id is `answer`, or None."""
        return self.parts(assignment).get(answer)

    def parts(self, assignment: str) -> dict[str, Any]:
        return self._current().get(assignment, {})

    def _current(self) -> dict[str, dict[str, Any]]:
        if self._folder is None or not self._folder.is_dir():
            return {}
        files = sorted(self._folder.glob("*.yaml"))
        stamp = tuple((str(p), p.stat().st_mtime) for p in files)
        with self._lock:
            if stamp != self._stamp:
                self._parts = self._load(files)
                self._stamp = stamp
            return self._parts

    @staticmethod
    def _load(files: list[Path]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for path in files:
            try:
                rubric = load_rubric(path)
            except (GradeError, OSError) as error:
                log.warning("rubric %s left out of the grading pages: %s", path, error)
                continue
            manual = getattr(rubric, "manual_parts", ())
            if manual:
                found[rubric.assignment] = {part.answer: part for part in manual}
        return found
