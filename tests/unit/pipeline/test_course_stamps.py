"""pipeline/course_stamps.py through pipeline/preflight.py: an assignment found sound is remembered across
processes, and checked again as soon as anything its check reads changes.

A "new process" is this one with the in-memory record (_sound) emptied and the course loaded again."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, ClassVar

import pytest

import grader.pipeline.preflight as preflight
from grader.course.assignments import Assignment, Course
from grader.course.rubric import load_rubric
from grader.errors import InstructorError
from grader.options import GradingOptions
from grader.pipeline import course_stamps, pool
from grader.pipeline.submission import grade_and_time
from grader.store.gradebook import Gradebook
from grader.pipeline.preflight import check_course
from grader.validate.suite import preflight_findings
from tests.unit.pipeline.test_submission import Scripted, scripted_course, submission


class Remembered(Scripted):
    """The recording kind of test_submission.py, opted in to stamps as the notebook kind is."""

    check_remembered: ClassVar[bool] = True


@pytest.fixture
def stamps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "stamps"
    monkeypatch.setenv("GRADE_PREFLIGHT_CACHE", str(folder))
    monkeypatch.setattr(preflight, "_sound", set())
    return folder


def course_with_tests(root: Path, *, broken: tuple[str, ...] = ()) -> Course:
    course = scripted_course(root, "a1", broken=broken, kind=Remembered())
    hidden = course.assignments["a1"].hidden_tests
    hidden.mkdir(parents=True)
    (hidden / "test_a1.py").write_text("def test_one(student, reference):\n    assert True\n")
    return course


def new_process(course: Course, monkeypatch: pytest.MonkeyPatch) -> Course:
    """The course as a new `grade run` loads it (hashes read again), with nothing remembered in memory."""
    monkeypatch.setattr(preflight, "_sound", set())
    return Course(root=course.root, assignments={
        name: Assignment(a.name, a.root, a.rubric_path, load_rubric(a.rubric_path), a.kind)
        for name, a in course.assignments.items()})


def checked(course: Course) -> list[str]:
    return course.assignments["a1"].kind.checked  # type: ignore[attr-defined]


def test_an_unchanged_course_is_not_checked_again_by_a_new_process(tmp_path: Path, stamps: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    course = course_with_tests(tmp_path)
    first = check_course(course, ["a1"], stamps=True)
    assert first.checked == ("a1",) and not first.remembered
    [stamp] = stamps.glob("*.json")
    second = check_course(new_process(course, monkeypatch), ["a1"], stamps=True)
    assert checked(course) == ["a1"]
    assert second.checked == () and set(second.remembered) == {"a1"}
    assert second.remembered["a1"].isoformat(timespec="seconds") == json.loads(stamp.read_text())["checked_at"]
    assert second.record()["a1"].startswith("unchanged since ")
    assert list(stamps.glob("*")) == [stamp]  # nothing written, no temporary file left


def changed_test(course: Course, monkeypatch: pytest.MonkeyPatch) -> None:
    (course.assignments["a1"].hidden_tests / "test_a1.py").write_text("def test_one(student, reference):\n"
                                                                      "    assert 1\n")


def changed_reference(course: Course, monkeypatch: pytest.MonkeyPatch) -> None:
    course.assignments["a1"].reference_notebook.write_text('{"cells": []}')


def changed_rubric(course: Course, monkeypatch: pytest.MonkeyPatch) -> None:
    path = course.assignments["a1"].rubric_path
    path.write_text(path.read_text() + "# points reviewed\n")


def conftest_in(where: str) -> Callable[[Course, pytest.MonkeyPatch], None]:
    def change(course: Course, monkeypatch: pytest.MonkeyPatch) -> None:
        (course.root / where / "conftest.py").write_text("import pytest\n")
    change.__name__ = f"conftest_in_{where}"
    return change


def changed_grade(course: Course, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(course_stamps, "grade_digest", lambda: "another grade")


def changed_python(course: Course, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(course_stamps, "python_fingerprint", lambda: {"distributions": ["torch-9.9.dist-info"]})


def changed_pytest_options(course: Course, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:something")


@pytest.mark.parametrize("change", [changed_test, changed_reference, changed_rubric, conftest_in("reference/a1/tests"),
                                    conftest_in("reference/a1"), conftest_in("reference"), conftest_in("."),
                                    changed_grade, changed_python, changed_pytest_options],
                         ids=lambda change: change.__name__)
def test_anything_the_check_reads_changed_checks_again(change: Callable[[Course, pytest.MonkeyPatch], None],
                                                      tmp_path: Path, stamps: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    course = course_with_tests(tmp_path)
    check_course(course, ["a1"], stamps=True)
    change(course, monkeypatch)
    again = check_course(new_process(course, monkeypatch), ["a1"], stamps=True)
    assert checked(course) == ["a1", "a1"] and again.checked == ("a1",) and not again.remembered
    assert len(list(stamps.glob("*.json"))) == 2  # the new state's stamp beside the old one


def test_a_conftest_outside_the_course_root_is_not_part_of_the_key(tmp_path: Path, stamps: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """pytest stops at --confcutdir (the course root); a conftest above it changes nothing."""
    course = course_with_tests(tmp_path / "course")
    check_course(course, ["a1"], stamps=True)
    (tmp_path / "conftest.py").write_text("import pytest\n")
    assert check_course(new_process(course, monkeypatch), ["a1"], stamps=True).remembered
    assert checked(course) == ["a1"]


def test_a_failing_check_writes_no_stamp_and_fails_again(tmp_path: Path, stamps: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    course = course_with_tests(tmp_path, broken=("a1",))
    for _ in range(2):
        with pytest.raises(InstructorError, match="broken on purpose"):
            check_course(new_process(course, monkeypatch), ["a1"], stamps=True)
    assert checked(course) == ["a1", "a1"]
    assert not stamps.exists() or not list(stamps.iterdir())


@pytest.mark.parametrize("state", ["a file where the folder should be", "a corrupt stamp"])
def test_an_unusable_stamps_folder_still_checks_and_never_fails_the_run(state: str, tmp_path: Path, stamps: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    course = course_with_tests(tmp_path)
    if state == "a corrupt stamp":
        check_course(course, ["a1"], stamps=True)
        [stamp] = stamps.glob("*.json")
        stamp.write_text('{"key": "')
    else:
        stamps.write_text("not a folder")  # every read and write under it fails, as root too
    for _ in range(2):
        assert check_course(new_process(course, monkeypatch), ["a1"], stamps=True).checked == ("a1",)
        if state == "a corrupt stamp":  # checked, and its stamp written whole again
            assert check_course(new_process(course, monkeypatch), ["a1"], stamps=True).remembered
            break
    assert checked(course) == ["a1", "a1"]


def test_recheck_runs_the_check_and_writes_the_stamp_anew(tmp_path: Path, stamps: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    course = course_with_tests(tmp_path)
    check_course(course, ["a1"], stamps=True)
    [stamp] = stamps.glob("*.json")
    stamp.write_text(json.dumps({**json.loads(stamp.read_text()), "checked_at": "2001-01-01T00:00:00+00:00"}))
    again = check_course(new_process(course, monkeypatch), ["a1"], stamps=False)  # --recheck-course
    assert again.checked == ("a1",) and checked(course) == ["a1", "a1"]
    assert json.loads(stamp.read_text())["checked_at"] > "2001"


def test_validate_checks_for_real_whatever_a_stamp_says(tmp_path: Path, stamps: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    course = course_with_tests(tmp_path)
    check_course(course, ["a1"], stamps=True)
    course = new_process(course, monkeypatch)
    assert preflight_findings(course, course.assignments["a1"]) == []
    assert checked(course) == ["a1", "a1"]


def test_a_class_is_graded_with_stamps_only_when_its_options_ask(tmp_path: Path, stamps: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """`grade run` asks (GradingOptions.course_stamps); validate and audit grade classes with the default,
    which checks for real. Each run's record says which it was."""
    monkeypatch.setattr(pool, "_forkserver", lambda: None)
    monkeypatch.setattr(pool, "_run_pool", lambda todo, course, options: (
        grade_and_time(s, course.assignments[s.assignment], options, 0) for s in todo))
    course = course_with_tests(tmp_path)
    check_course(course, ["a1"], stamps=True)
    recorded = {}
    for asked in (False, True):
        course = new_process(course, monkeypatch)
        with Gradebook(str(tmp_path / f"{asked}.db")) as store:
            result = pool.grade_class([submission(tmp_path, "ada", "a1", "ok")], course, store,
                                      GradingOptions(sandbox=False, course_stamps=asked))
            [run] = store.runs()
        assert [g.score for g in result.grades] == [1.0]
        recorded[asked] = run.options["preflight"]["a1"], set(result.course_check.remembered)
    assert checked(course) == ["a1", "a1"]  # the stamp's own check, then the run that did not ask
    assert recorded[False] == ("checked", set())
    assert recorded[True][0].startswith("unchanged since ") and recorded[True][1] == {"a1"}


def test_a_kind_that_does_not_opt_in_is_checked_by_every_process(tmp_path: Path, stamps: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The homework's check reads its held-out data (30-60 ms): it is not remembered."""
    course = scripted_course(tmp_path, "a1")
    for _ in range(2):
        assert check_course(new_process(course, monkeypatch), ["a1"], stamps=True).checked == ("a1",)
    assert checked(course) == ["a1", "a1"] and not stamps.exists()


def test_grades_digest_is_of_its_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import grader

    package = tmp_path / "grader"
    (package / "checks").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "checks" / "runner.py").write_text("TOLERANCE = 1e-5\n")
    monkeypatch.setattr(grader, "__file__", str(package / "__init__.py"))
    digest = course_stamps.grade_digest.__wrapped__  # type: ignore[attr-defined]  # not the process's cached one
    before = digest()
    (package / "checks" / "runner.py").write_text("TOLERANCE = 1e-3\n")
    assert digest() != before
    (package / "README.md").write_text("not code")
    assert digest() == digest()


def test_the_python_fingerprint_names_each_installed_distribution_with_its_version() -> None:
    import pytest as installed

    names = course_stamps.python_fingerprint()["distributions"]
    assert f"pytest-{installed.__version__}.dist-info" in names, names  # type: ignore[operator]
