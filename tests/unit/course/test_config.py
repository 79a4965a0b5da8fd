"""course.yaml: read as written, refused with the file and the fix when wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.course.config import CourseDefaults, load_course_config
from grader.errors import InstructorError
from grader.kinds import load_course
from tests.conftest import REPO


def write(root: Path, text: str) -> Path:
    (root / "course.yaml").write_text(text)
    return root


def test_this_course_reads_its_title_order_and_defaults() -> None:
    course = load_course(REPO)
    assert course.title == "Deep Learning & NLP Foundations"
    assert list(course.assignments)[0] == "01_neural_networks" and list(course.assignments)[-1] == "homework"
    assert course.config.torch == "2.13.0"
    assert all(a.course_root == REPO.resolve() for a in course.assignments.values())


def test_a_folder_without_course_yaml_is_titled_by_its_name(tmp_path: Path) -> None:
    config = load_course_config(tmp_path)
    assert config.title == tmp_path.name and config.assignments is None and config.path is None
    assert config.defaults == CourseDefaults()


def test_every_field_is_read(tmp_path: Path) -> None:
    config = load_course_config(write(tmp_path, """
title: Course B
torch: "2.13.0"
packages: [matplotlib==3.10.8, "scikit-learn==1.8.0"]
assignments: every rubric
defaults: {timeout_s: 120, cell_timeout_s: 30, memory_mb: 2048}
"""))
    assert config.title == "Course B" and config.assignments is None
    assert config.package_names() == ("matplotlib", "scikit-learn")
    assert config.defaults == CourseDefaults(timeout_s=120, cell_timeout_s=30, memory_mb=2048)


@pytest.mark.parametrize("text, words", [
    ("[1, 2]", "mapping"),
    ("title: ''", "title"),
    ("title: x\ncolour: blue", "unknown keys colour"),
    ("title: x\npackages: [matplotlib]", "pinned as name==version, not matplotlib"),
    ("title: x\npackages: [matplotlib>=3]", "not matplotlib>=3"),
    ("title: x\ntorch: \"2.13.0\"\npackages: [torch==2.12.0]", "and `packages:` torch==2.12.0 disagree"),
    ("title: x\ntorch: latest", "torch"),
    ("title: x\nassignments: [a, a]", "twice"),
    ("title: x\nassignments: []", "assignments"),
    ("title: x\ndefaults: {timeout_s: -1}", "positive"),
    ("title: x\ndefaults: {timeout: 3}", "may set"),
    ("title: [x", "not valid YAML"),
])
def test_mistakes_name_the_file_and_the_fix(tmp_path: Path, text: str, words: str) -> None:
    with pytest.raises(InstructorError, match="course.yaml") as error:
        load_course_config(write(tmp_path, text))
    assert words in str(error.value)


def test_assignments_set_the_order_and_must_exist(tmp_path: Path) -> None:
    (tmp_path / "rubrics").mkdir()
    for name in ("b", "a"):
        (tmp_path / "reference" / name).mkdir(parents=True)
        (tmp_path / "reference" / name / f"{name}.ipynb").write_text("{}")
        (tmp_path / "rubrics" / f"{name}.yaml").write_text(
            f"assignment: {name}\ntitle: {name}\nnotebook: {name}.ipynb\nparts:\n  - name: p\n    tests: {{t: 1}}\n")
    write(tmp_path, "title: T\nassignments: [b, a]\n")
    assert list(load_course(tmp_path).assignments) == ["b", "a"]
    write(tmp_path, "title: T\nassignments: [b, c]\n")
    with pytest.raises(InstructorError, match="with no rubric .*: c"):
        load_course(tmp_path)


def test_deadlines_and_late_policy_are_read_with_their_zones(tmp_path: Path) -> None:
    from datetime import datetime, timedelta, timezone

    from grader.course.config import LatePolicy

    config = load_course_config(write(tmp_path, """
title: Course C
deadlines:
  05_attention_mechanism: 2026-11-02T23:59:00+01:00
  homework: "2026-12-01T12:00:00Z"
late_policy: {per_day_percent: 10, grace_minutes: 15, max_days_late: 3}
"""))
    assert config.deadlines == {
        "05_attention_mechanism": datetime(2026, 11, 2, 23, 59, tzinfo=timezone(timedelta(hours=1))),
        "homework": datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)}
    assert config.late_policy == LatePolicy(per_day_percent=10.0, grace_minutes=15.0, max_days_late=3)
    assert load_course_config(write(tmp_path, "title: D\n")).late_policy == LatePolicy(0.0, 0.0, None)


@pytest.mark.parametrize("text, message", [
    ("deadlines: {a: 2026-11-02}", "date without a time"),
    ("deadlines: {a: 2026-11-02T23:59:00}", "no time zone"),
    ("deadlines: {a: next friday}", "not an ISO 8601 time"),
    ("deadlines: [a]", "maps each assignment"),
    ("late_policy: {per_day: 10}", "may set grace_minutes, max_days_late, per_day_percent"),
    ("late_policy: {per_day_percent: 150}", "at most 100"),
    ("late_policy: {per_day_percent: -5}", "0 or more"),
    ("late_policy: {max_days_late: 1.5}", "a whole number"),
    ("late_policy: {grace_minutes: ten}", "must be a number"),
])
def test_bad_deadlines_and_late_policies_name_the_file_and_the_fix(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(InstructorError, match=message) as error:
        load_course_config(write(tmp_path, f"title: E\n{text}\n"))
    assert "course.yaml" in str(error.value)


def test_a_deadline_for_an_assignment_the_course_lacks_is_refused(tmp_path: Path) -> None:
    import shutil

    shutil.copytree(REPO / "rubrics", tmp_path / "rubrics")
    shutil.copytree(REPO / "reference", tmp_path / "reference", ignore=shutil.ignore_patterns("homework", "0[1-4]*",
                                                                                              "0[6-7]*"))
    for rubric in (tmp_path / "rubrics").glob("*.yaml"):
        if rubric.stem != "05_attention_mechanism":
            rubric.unlink()
    write(tmp_path, "title: F\ndeadlines: {05_attention: 2026-11-02T23:59:00Z}\n")
    with pytest.raises(InstructorError, match="names assignments the course does not have: 05_attention"):
        load_course(tmp_path)
