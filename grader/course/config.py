"""course.yaml: what a course says about itself, read once and trusted.

The file sits at the course root (the folder `--course` names), beside rubrics/ and
reference/. Everything course-specific that is not an assignment lives here: the title
shown on reports and the release, the torch students install, the packages students'
code may import (the sandboxed kernel's environment and the release's requirements.txt),
which assignments make the course and in what order, default limits, and the deadlines and
late policy (grader/course/deadlines.py applies them). A folder with
rubrics but no course.yaml is still a course (titled by its folder name, every rubric,
the default limits); `grade validate` says so.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml

from grader.errors import InstructorError, course_file

COURSE_FILE = "course.yaml"
EVERY_RUBRIC = "every rubric"
_PIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9_,.-]+\])?==[A-Za-z0-9.+!-]+$")
_KNOWN_KEYS = {"title", "torch", "packages", "assignments", "defaults", "deadlines", "late_policy"}
_KNOWN_DEFAULTS = {"timeout_s", "cell_timeout_s", "memory_mb"}
_KNOWN_LATE_POLICY = {"per_day_percent", "grace_minutes", "max_days_late"}


@dataclass(frozen=True)
class CourseDefaults:
    """Limits a run uses unless its command line says otherwise."""

    timeout_s: float = 300.0  # wall clock per submission
    cell_timeout_s: float = 60.0
    memory_mb: int = 4096  # the sandbox's memory cgroup cap


@dataclass(frozen=True)
class LatePolicy:
    """What a late submission costs. Every started day after the due time counts as a whole day (as
    Canvas and Moodle count them); a submission inside the grace period is on time; past
    max_days_late the work scores 0 (and is still graded, for the feedback)."""

    per_day_percent: float = 0.0  # of the points possible, per started day
    grace_minutes: float = 0.0
    max_days_late: int | None = None  # None: no last day (the penalty stops at 100 %)


@dataclass(frozen=True)
class CourseConfig:
    title: str
    torch: str = ""  # the pinned torch version students install ("" : whatever grade pins)
    packages: tuple[str, ...] = ()  # pinned requirements (name==version) students' code may import
    assignments: tuple[str, ...] | None = None  # in order; None: every rubric, by file name
    defaults: CourseDefaults = field(default_factory=CourseDefaults)
    path: Path | None = None  # the course.yaml read, None when the course has none
    deadlines: dict[str, datetime] = field(default_factory=dict)  # assignment -> due time (aware)
    late_policy: LatePolicy = field(default_factory=LatePolicy)

    def package_names(self) -> tuple[str, ...]:
        return tuple(re.split(r"[\[=]", line, maxsplit=1)[0].lower() for line in self.packages)


def load_course_config(root: Path) -> CourseConfig:
    """Read ROOT/course.yaml; raise InstructorError naming the file and the fix."""
    path = root / COURSE_FILE
    if not path.is_file():
        return CourseConfig(title=root.resolve().name)
    where = course_file(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise InstructorError(f"{where} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise InstructorError(f"{where} must be a mapping with at least `title:`")
    unknown = set(data) - _KNOWN_KEYS
    if unknown:
        raise InstructorError(f"{where}: unknown keys {', '.join(sorted(unknown))}; "
                              f"the keys are {', '.join(sorted(_KNOWN_KEYS))}")
    title = data.get("title")
    if not isinstance(title, str) or not title.strip():
        raise InstructorError(f"{where}: `title:` must name the course, e.g. title: \"Deep Learning 101\"")
    torch, packages = _torch(data.get("torch"), where), _packages(data.get("packages"), where)
    pinned = [line.split("==", 1)[1] for line in packages if re.match(r"(?i)torch==", line)]
    if torch and pinned and pinned[0] != torch:
        raise InstructorError(f"{where}: `torch: \"{torch}\"` and `packages:` torch=={pinned[0]} disagree; "
                              "pin one version in both")
    return CourseConfig(title=title.strip(), torch=torch, packages=packages,
                        assignments=_assignments(data.get("assignments", EVERY_RUBRIC), where),
                        defaults=_defaults(data.get("defaults") or {}, where), path=path,
                        deadlines=_deadlines(data.get("deadlines"), where),
                        late_policy=_late_policy(data.get("late_policy"), where))


def _torch(value: Any, where: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, (str, float)) or not re.fullmatch(r"\d+(\.\d+)*", str(value)):
        raise InstructorError(f"{where}: `torch:` must be a version such as \"2.13.0\" (quoted), not {value!r}")
    return str(value)


def _packages(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise InstructorError(f"{where}: `packages:` must be a list of pinned requirements such as matplotlib==3.10.8")
    bad = [str(line) for line in value if not isinstance(line, str) or not _PIN.match(line.strip())]
    if bad:
        raise InstructorError(f"{where}: every package must be pinned as name==version, not {', '.join(bad)}")
    return tuple(line.strip() for line in value)


def _assignments(value: Any, where: str) -> tuple[str, ...] | None:
    if value == EVERY_RUBRIC:
        return None
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise InstructorError(f"{where}: `assignments:` must list assignment names in order, "
                              f"or say \"{EVERY_RUBRIC}\"")
    if len(set(value)) != len(value):
        raise InstructorError(f"{where}: `assignments:` lists an assignment twice")
    return tuple(value)


def _defaults(value: Any, where: str) -> CourseDefaults:
    if not isinstance(value, dict) or set(value) - _KNOWN_DEFAULTS:
        raise InstructorError(f"{where}: `defaults:` may set {', '.join(sorted(_KNOWN_DEFAULTS))}")
    try:
        defaults = CourseDefaults(**{key: type(getattr(CourseDefaults, key))(v) for key, v in value.items()})
    except (TypeError, ValueError) as exc:
        raise InstructorError(f"{where}: `defaults:` values must be numbers ({exc})") from exc
    if min(defaults.timeout_s, defaults.cell_timeout_s, defaults.memory_mb) <= 0:
        raise InstructorError(f"{where}: `defaults:` values must be positive")
    return defaults


def due_time(value: Any, what: str) -> datetime:
    """An ISO 8601 time with its zone (YAML may hand it over already parsed); raise ValueError saying why not."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        raise ValueError(f"{what} is a date without a time: give the time and zone, e.g. {value}T23:59:00+01:00")
    else:
        try:
            parsed = datetime.fromisoformat(str(value).strip())
        except ValueError:
            raise ValueError(f"{what} is not an ISO 8601 time: {value!r}; "
                             "write e.g. 2026-11-02T23:59:00+01:00") from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ValueError(f"{what} has no time zone: {value!r}; add one, e.g. +01:00 or Z")
    return parsed


def _deadlines(value: Any, where: str) -> dict[str, datetime]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) and k for k in value):
        raise InstructorError(f"{where}: `deadlines:` maps each assignment to its due time, "
                              "e.g. 05_attention_mechanism: 2026-11-02T23:59:00+01:00")
    try:
        return {name: due_time(due, f"the deadline of {name}") for name, due in value.items()}
    except ValueError as exc:
        raise InstructorError(f"{where}: `deadlines:` {exc}") from exc


def _late_policy(value: Any, where: str) -> LatePolicy:
    if value is None:
        return LatePolicy()
    if not isinstance(value, dict) or set(value) - _KNOWN_LATE_POLICY:
        raise InstructorError(f"{where}: `late_policy:` may set {', '.join(sorted(_KNOWN_LATE_POLICY))}")

    def number(key: str, default: float, whole: bool = False) -> float:
        item = value.get(key, default)
        if isinstance(item, bool) or not isinstance(item, (int, float)) or not math.isfinite(item) or item < 0 \
                or (whole and item != int(item)):
            kind = "a whole number" if whole else "a number"
            raise InstructorError(f"{where}: `late_policy: {key}:` must be {kind}, 0 or more, not {item!r}")
        return item

    per_day = number("per_day_percent", 0.0)
    if per_day > 100:
        raise InstructorError(f"{where}: `late_policy: per_day_percent:` is a percentage of the points, "
                              f"at most 100, not {per_day!r}")
    last = value.get("max_days_late")
    return LatePolicy(per_day_percent=float(per_day), grace_minutes=float(number("grace_minutes", 0.0)),
                      max_days_late=None if last is None else int(number("max_days_late", 0, whole=True)))
