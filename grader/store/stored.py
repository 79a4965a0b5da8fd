"""What the gradebook's reads return, beside the models' Grade: a result with its place in the
history, a grading run, and the revision the web app's page cache compares (grader/store/gradebook.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from grader.models import Grade, RunState


class Revision(NamedTuple):
    """What `Gradebook.revision` compares: per table, a value that changes when the table does."""

    results: tuple[Any, ...]
    overrides: tuple[Any, ...]
    runs: tuple[Any, ...]
    roster: tuple[Any, ...]
    manual: tuple[int, ...]


@dataclass(frozen=True)
class StoredResult:
    """One stored result with where it sits in the history (for the per-run report pages)."""

    result_id: int
    run_id: int
    reused_from: int | None
    grade: Grade


@dataclass(frozen=True)
class RunInfo:
    """One grading run, as listed by `Gradebook.runs()`. Times are UTC."""

    id: int
    started_at: datetime
    finished_at: datetime | None
    status: RunState
    pid: int
    host: str
    grader_version: str
    options: dict[str, Any]
