"""The acceptance class (issue 18): notebook 05 with 3 copied pairs, 1 pair that shares only the
starter code, 10 independent solutions, a broken notebook and a zip: the copies rank first,
everything else stays below the threshold; through `grade similarity` as an instructor runs it."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from grader.cli import main
from grader.similarity.run import DEFAULT_THRESHOLD
from tests import similarity_class as built

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def klass(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("class")
    return root, built.build_class(root)


def similarity(*args: str) -> str:
    result = CliRunner().invoke(main, ["similarity", *args, "--assignment", built.ASSIGNMENT, "--course", str(REPO)])
    assert result.exit_code == 0, result.output
    return result.output


def pairs_of(output: str) -> list[dict]:
    return json.loads(output[output.index("["):output.rindex("]") + 1])


def test_the_copied_pairs_rank_first_and_everything_else_stays_below_the_threshold(klass) -> None:
    root, roles = klass
    pairs = pairs_of(similarity(str(root), "--format", "json"))
    students = sorted(s for s, role in roles.items() if role != "broken")
    assert len(pairs) == len(students) * (len(students) - 1) // 2
    assert all(p["a"] < p["b"] and 0.0 <= p["score"] <= 1.0 for p in pairs)
    assert [p["score"] for p in pairs] == sorted((p["score"] for p in pairs), reverse=True)
    for rank, pair in enumerate(pairs[:3], 1):
        print(f"rank {rank}: {pair['a']} / {pair['b']}: {pair['score']:.3f}")
    assert {(p["a"], p["b"]) for p in pairs[:3]} == set(built.COPIED)
    assert all(p["score"] >= 0.8 for p in pairs[:3])
    rest = pairs[3:]
    assert rest[0]["score"] < DEFAULT_THRESHOLD, rest[0]
    starter = next(p for p in pairs if (p["a"], p["b"]) == built.STARTER_ONLY)
    assert starter["score"] == 0.0
    print("highest other pair:", rest[0], "starter-only pair:", starter)


def test_the_page_shows_the_flagged_pairs_side_by_side_and_who_was_not_compared(klass, tmp_path: Path) -> None:
    root, _ = klass
    out = tmp_path / "similarity.html"
    output = similarity(str(root), "--out", str(out))
    assert "never a penalty" in " ".join(output.split()) and "zed_broken" in output
    html = out.read_text(encoding="utf-8")
    assert (tmp_path / "style.css").is_file()
    assert "never a penalty" in html and "script-src 'none'" in html
    assert html.count('class="pair"') == 3 and html.count('<div class="side">') == 6
    assert "<mark>" in html
    for original, copy in built.COPIED:
        assert f"{original} and {copy}" in html
    assert "zed_broken" in html and "not valid JSON" in html
    assert "indep_" not in html  # nobody else is flagged


def test_hostile_names_are_escaped_and_archives_meet_only_this_term(klass, tmp_path: Path) -> None:
    root, _ = klass
    current, archive = tmp_path / "current", tmp_path / "2025"
    current.mkdir()
    hostile = "<img src=x onerror=alert(1)>"
    shutil.copytree(root / "carla_original", current / hostile)
    shutil.copytree(root / "indep_00", current / "indep_00")
    archive.mkdir()
    shutil.copytree(root / "carlo_copy", archive / "carlo_copy")
    shutil.copytree(root / "indep_01", archive / "indep_01")
    pairs = pairs_of(similarity(str(current), "--archive", str(archive), "--format", "json"))
    assert {(p["a"], p["b"]) for p in pairs} == {
        (hostile, "indep_00"), (hostile, "2025/carlo_copy"), (hostile, "2025/indep_01"),
        ("indep_00", "2025/carlo_copy"), ("indep_00", "2025/indep_01")}
    assert (pairs[0]["a"], pairs[0]["b"]) == (hostile, "2025/carlo_copy")
    out = tmp_path / "page.html"
    similarity(str(current), "--archive", str(archive), "--out", str(out))
    html = out.read_text(encoding="utf-8")
    assert hostile not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert re.search(r"2 students compared, and 2 archived submissions", " ".join(html.split()))


def test_an_unknown_assignment_is_the_instructor_s_to_fix(klass) -> None:
    root, _ = klass
    result = CliRunner().invoke(main, ["similarity", str(root), "--assignment", "nope", "--course", str(REPO)])
    assert result.exit_code == 1 and "no assignment 'nope'" in result.output


def test_the_template_uses_exactly_its_context_keys() -> None:
    from dataclasses import fields

    from jinja2 import meta

    from grader.similarity.page import SimilarityContext, page_environment

    env = page_environment()

    def used(name: str) -> set[str]:
        ast = env.parse(env.loader.get_source(env, name)[0])
        names = set(meta.find_undeclared_variables(ast))
        for parent in meta.find_referenced_templates(ast):
            assert parent is not None
            names |= used(parent)
        return names

    assert used("similarity.html") == {f.name for f in fields(SimilarityContext)}


def test_the_report_index_links_the_similarity_pages_beside_it(klass, tmp_path: Path) -> None:
    from grader.reports.write import write_reports
    from tests.factories import make_grade

    root, _ = klass
    reports = tmp_path / "reports"
    similarity(str(root), "--out", str(reports / "similarity" / f"{built.ASSIGNMENT}.html"))
    index = write_reports([make_grade("carla_original", built.ASSIGNMENT)], reports).read_text(encoding="utf-8")
    assert f'href="similarity/{built.ASSIGNMENT}.html"' in index and "never a penalty" in index
    assert (reports / "similarity" / "style.css").is_file()


def test_a_page_shows_the_highest_flagged_pairs_and_counts_the_rest(klass, tmp_path: Path) -> None:
    from grader.kinds import load_course
    from grader.similarity.page import similarity_context
    from grader.similarity.run import find_similar

    root, _ = klass
    course = load_course(REPO)
    result = find_similar(root, course.assignments[built.ASSIGNMENT], course, threshold=0.2, shown=2)
    context = similarity_context(result, title="Week 3")
    assert len(context.flagged) == 2 and context.hidden == len(result.flagged) - 2 > 0
    assert [v.score for v in context.flagged] == [f"{p.score:.2f}" for p in result.flagged[:2]]


def test_control_characters_and_lone_surrogates_in_code_reach_the_page_cleaned(klass, tmp_path: Path) -> None:
    root, _ = klass
    current = tmp_path / "current"
    current.mkdir()
    for name in ("ann", "bob"):
        shutil.copytree(root / "carla_original", current / name)
        path = current / name / built.NOTEBOOK
        text = path.read_text(encoding="utf-8").replace("def causal_mask(size):", "def causal_mask(size):  # \\u001b[31m \\ud800")
        path.write_text(text, encoding="utf-8")
    out = tmp_path / "page.html"
    similarity(str(current), "--out", str(out))
    html = out.read_text(encoding="utf-8")
    assert "\x1b" not in html and "ann and bob" in html and "\\ud800" in html
