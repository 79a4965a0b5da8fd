"""Reading a class for similarity: every hostile and broken hand-in of tests/fixtures/hostile is
either compared or left out with its reason; nothing is run, nothing crashes, no link is followed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from grader.kinds import load_course
from grader.similarity.run import find_similar
from tests import similarity_class as built

REPO = Path(__file__).resolve().parents[3]
HOSTILE = REPO / "tests" / "fixtures" / "hostile"
LEFT_OUT = {  # hand-in -> words of the reason
    "bad_json": "not valid JSON", "empty": "empty (0 bytes)", "not_notebook": "not a Jupyter notebook",
    "nbformat3": "format 3", "linker": "symbolic link", "zipslip": "unsafe path", "zipbomb": "zip bomb",
    "julia": "runs the julia-1.9 kernel",
}


@pytest.fixture(scope="module")
def course():
    return load_course(REPO)


def test_hostile_hand_ins_are_compared_or_left_out_with_their_reason(tmp_path: Path, course) -> None:
    for path in sorted(HOSTILE.iterdir()):
        if path.suffix == ".ipynb":
            (tmp_path / path.stem).mkdir()
            shutil.copyfile(path, tmp_path / path.stem / built.NOTEBOOK)
        elif path.suffix == ".zip":
            shutil.copyfile(path, tmp_path / path.name)
        elif path.suffix == ".symlink":
            (tmp_path / path.stem).mkdir()
            (tmp_path / path.stem / built.NOTEBOOK).symlink_to(built.REFERENCE)
    result = find_similar(tmp_path, course.assignments[built.ASSIGNMENT], course)
    reasons = {s.student: s.reason for s in result.skipped}
    assert set(reasons) == set(LEFT_OUT)
    for student, words in LEFT_OUT.items():
        assert words in reasons[student], reasons[student]
    compared = {name for pair in result.pairs for name in (pair.a, pair.b)}
    assert "honest" in compared and "prober" in compared and not compared & set(LEFT_OUT)


def test_zips_packages_and_renamed_notebooks_are_read(tmp_path: Path, course) -> None:
    cells = built.solution_cells(built.plane_ways(1, 2))
    source = "\n\n".join(["import math\nimport torch\nimport torch.nn as nn\nimport torch.nn.functional as F",
                          cells[built.SDPA_CELL], cells[built.CAUSAL_CELL], cells[built.MODULE_CELL]])
    (tmp_path / "pat").mkdir()
    (tmp_path / "pat" / f"{built.ASSIGNMENT}.py").write_text(source, encoding="utf-8")  # a package submission
    built.write_notebook(built.notebook(cells), tmp_path / "ren")
    (tmp_path / "ren" / built.NOTEBOOK).rename(tmp_path / "ren" / "my attention.ipynb")  # claimed by its metadata
    result = find_similar(tmp_path, course.assignments[built.ASSIGNMENT], course)
    assert result.skipped == () and len(result.pairs) == 1
    assert result.pairs[0].score > 0.9  # the same code, as one module and as notebook cells
