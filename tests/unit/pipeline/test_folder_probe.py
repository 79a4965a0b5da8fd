"""pipeline/folder.py: the sandbox probe runs beside discovery, and its verdict still comes first."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from grader.errors import SandboxUnavailable
from grader.kinds import load_course
from grader.pipeline import folder
from grader.pipeline.folder import RunRequest, grade_folder
from tests.conftest import REPO


def unavailable(limits: object) -> None:
    raise SandboxUnavailable("bubblewrap is not installed, so student code cannot be isolated")


@pytest.mark.parametrize("with_submissions", [True, False])
def test_an_unusable_sandbox_stops_the_run_before_anything_is_recorded(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, with_submissions: bool) -> None:
    monkeypatch.setattr(folder.sandbox, "probe", unavailable)
    (tmp_path / "class").mkdir()
    if with_submissions:
        shutil.copytree(REPO / "submissions" / "ada_lovelace", tmp_path / "class" / "ada_lovelace")
    request = RunRequest(path=tmp_path / "class", db=str(tmp_path / "g.db"), reports_dir=tmp_path / "reports")
    with pytest.raises(SandboxUnavailable, match="bubblewrap is not installed"):  # not "no submissions found"
        grade_folder(request, load_course(REPO))
    assert not (tmp_path / "g.db").exists() and not (tmp_path / "reports").exists()
