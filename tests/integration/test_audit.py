"""`grade audit` end to end on a tiny course (tests/fixtures/audit/tiny): mutants generated,
an equivalent one dropped, the rest graded in the sandbox through the pipeline; then a
hidden test file deleted: the score drops and the mutants only it caught survive."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from grader.audit.run import AuditOptions, run_audit
from grader.cli import main
from grader.kinds import load_course
from grader.sandbox.limits import Limits
from tests.conftest import REPO, requires_sandbox

pytestmark = [pytest.mark.sandbox, requires_sandbox]
TINY = REPO / "tests" / "fixtures" / "audit" / "tiny"


def test_audit_scores_the_suite_and_a_deleted_test_file_lowers_it(tmp_path: Path) -> None:
    course_dir = tmp_path / "course"
    shutil.copytree(TINY, course_dir)
    options = AuditOptions(jobs=2, limits=Limits(cell_timeout_s=30, submission_timeout_s=60))
    full = run_audit(load_course(course_dir), "tiny", options)

    assert full.generated == len(full.results) >= 6 and not full.sampled
    equivalent = {r.mutant.description for r in full.equivalent}
    assert "* became /" in equivalent, "x.sum() * 1 -> x.sum() / 1 changes nothing"
    assert "< became <=" in equivalent, "no probe input sits on the boundary"
    assert full.graded and full.mutation_score == 1.0, [r.mutant.diff() for r in full.survivors]
    assert all(r.points_lost > 0 for r in full.caught)
    swapped = next(r for r in full.caught if r.mutant.description == "where's branches swapped")
    assert swapped.failed_tests == ("test_clip_below",) and swapped.points_lost == 2
    assert swapped.part is not None and (swapped.part.part, swapped.part.lost, swapped.part.points) == ("Clip", 2, 2)
    assert full.share_of_notebook(swapped) == 0.4  # 2 of tiny's 5 points

    # The weakened suite: test_clip.py deleted (and its rubric line, or the course is refused).
    (course_dir / "reference/tiny/tests/hidden/test_clip.py").unlink()
    rubric = course_dir / "rubrics/tiny.yaml"
    rubric.write_text(rubric.read_text().replace('  - name: "Clip"\n    tests:\n      test_clip_below: 2\n', ""))
    result = CliRunner().invoke(main, ["audit", "tiny", "--course", str(course_dir), "--jobs", "2",
                                       "--json", str(tmp_path / "audit.json"), "--timeout", "60"])
    assert result.exit_code == 0, result.output
    record = json.loads((course_dir / ".grade/audit/tiny.json").read_text())
    assert record == json.loads((tmp_path / "audit.json").read_text())
    weak = load_course(course_dir).assignments["tiny"]
    assert {k: record[k] for k in ("tests_hash", "reference_hash", "rubric_hash")} == weak.hashes
    assert record["mutation_score"] < full.mutation_score
    survivors = {s["id"]: s for s in record["survivors"]}
    assert swapped.mutant.id in survivors, "the mutant only the deleted test caught survives"
    assert "+    return np.where(x < low, x, low)" in survivors[swapped.mutant.id]["diff"]
    assert survivors[swapped.mutant.id]["tests"] == [], "no test is left that mentions clip_below"
    assert record["equivalent"] == len(full.equivalent) and record["generated"] == full.generated
    assert "survived mask_inversion" in result.output and "mutation score" in result.output
    assert "what each caught mutant costs" in result.output and "caught mutants losing < 10% of the notebook" \
        in result.output
    assert all(c["part"] == "Normalize" and c["part_points"] == 3.0 for c in record["caught_mutants"])

