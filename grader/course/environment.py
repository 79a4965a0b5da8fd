"""The students' environment: the Python the sandboxed kernels run, built from course.yaml's `packages:`.

The course says what students' code may import (pinned lines); `grade env build` makes a
virtual environment of exactly that, plus the kernel itself (ipykernel), and grading runs
every sandboxed kernel in it (grader/sandbox/interpreter.py says what the sandbox mounts).
The grader's own packages (SQLAlchemy, Starlette, Dask...) are not in it, so a notebook
that runs under `grade` runs under the release's requirements.txt, and the reverse.

An environment is keyed by its requirements and its Python version: every copy of a course
with the same `packages:` shares one, and changing a pin asks for a new one. They live in
$GRADE_KERNEL_ENVS, else ~/.cache/grade/kernels/. A folder is complete only once its stamp
(`grade-kernel.json`, written last, after a smoke test) names the requirements it was built
from; anything else is built (again).

A course without `packages:` has no environment of its own: its kernels run grade's own
interpreter, as before course.yaml existed.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from grader.course.config import CourseConfig
from grader.errors import GradeError, InstructorError, course_file
from grader.sandbox.interpreter import Interpreter

STAMP = "grade-kernel.json"
# What the kernel needs besides the course: the kernel itself. The bridge's agent
# (grader/kernel/agent.py, extract.py) is sent in as source and needs torch and safetensors,
# which the course must list (`required_packages`).
KERNEL_PACKAGES = ("ipykernel",)
BRIDGE_PACKAGES = ("torch", "safetensors")
SMOKE_TEST = "import ipykernel, comm, torch, safetensors.torch"


@dataclass(frozen=True)
class KernelEnvironment:
    """Where a course's kernel environment is (or would be) and what goes into it."""

    folder: Path
    requirements: tuple[str, ...]  # the course's pins, then the kernel's

    @property
    def python(self) -> Path:
        return self.folder / "bin" / "python"

    def built(self) -> bool:
        try:
            stamp = json.loads((self.folder / STAMP).read_text())
        except (OSError, ValueError):
            return False
        return stamp.get("requirements") == list(self.requirements) and self.python.exists()

    def interpreter(self) -> Interpreter:
        """The built environment as the sandbox runs it; GradeError saying how to build it when it is not."""
        if not self.built():
            raise GradeError(
                f"the students' environment (course.yaml `packages:`) is not built at {self.folder}; "
                "build it with `grade env build --course COURSE` (scripts/setup.sh does), or pass --no-sandbox "
                "to run your own code in grade's environment")
        stamp = json.loads((self.folder / STAMP).read_text())
        prefixes = {self.folder.resolve(), Path(stamp["base_prefix"]).resolve()}
        return Interpreter(self.python, tuple(sorted(prefixes)))


def envs_root() -> Path:
    configured = os.environ.get("GRADE_KERNEL_ENVS")
    if configured:
        return Path(configured)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "grade" / "kernels"


def kernel_requirements(config: CourseConfig) -> tuple[str, ...]:
    """The course's pins, then ipykernel at grade's own version (the kernel protocol grade speaks)."""
    required_packages(config)
    names = set(config.package_names())
    extra = tuple(f"{name}=={metadata.version(name)}" for name in KERNEL_PACKAGES if name not in names)
    return config.packages + extra


def required_packages(config: CourseConfig) -> None:
    missing = [name for name in BRIDGE_PACKAGES if name not in config.package_names()]
    if missing:
        where = course_file(config.path) if config.path else "course.yaml"
        raise InstructorError(f"{where}: `packages:` must pin {' and '.join(missing)}: the grader's bridge to "
                              "the student's kernel passes tensors with them")


def for_course(config: CourseConfig | None) -> KernelEnvironment | None:
    """The course's environment (built or not); None for a course that lists no packages."""
    if config is None or not config.packages:
        return None
    requirements = kernel_requirements(config)
    python_version = f"{sys.version_info.major}.{sys.version_info.minor}"
    key = hashlib.sha256("\n".join((python_version, *requirements)).encode()).hexdigest()[:16]
    return KernelEnvironment(envs_root() / f"py{python_version}-{key}", requirements)


def kernel_interpreter(config: CourseConfig | None) -> Interpreter | None:
    """What sandboxed kernels run for this course: its built environment, or None (grade's own)."""
    environment = for_course(config)
    return None if environment is None else environment.interpreter()


def build(environment: KernelEnvironment, *, say: Callable[[str], None] = print) -> bool:
    """Make the environment if it is not complete; False when it already was (nothing installed).

    torch goes first and alone, pinned: resolved together with other packages, pip may pick
    a build that pulls gigabytes of CUDA libraries. One builder at a time (a lock beside it).
    """
    if environment.built():
        return False
    folder = environment.folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f"{folder.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if environment.built():
            return False
        (folder / STAMP).unlink(missing_ok=True)
        if not environment.python.exists():
            say(f"making a virtual environment at {folder}")
            _run([sys._base_executable, "-m", "venv", str(folder)])  # type: ignore[attr-defined]
        pip = [str(environment.python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        torch = [line for line in environment.requirements if _name(line) == "torch"]
        say(f"installing {len(environment.requirements)} packages (torch first)")
        _run(pip + torch)
        _run(pip + list(environment.requirements))
        _run([str(environment.python), "-c", SMOKE_TEST])
        base_prefix = subprocess.run([str(environment.python), "-c", "import sys; print(sys.base_prefix)"],
                                     check=True, capture_output=True, text=True).stdout.strip()
        stamp = {"requirements": list(environment.requirements), "base_prefix": base_prefix}
        (folder / STAMP).write_text(json.dumps(stamp, indent=1) + "\n")
        # The sandbox's uid reads it: folders and files world-readable, as a venv made by root is.
        os.chmod(folder, 0o755)
    return True


def _name(line: str) -> str:
    return line.split("==", 1)[0].split("[", 1)[0].lower()


def _run(argv: list[str]) -> None:
    done = subprocess.run(argv)
    if done.returncode != 0:
        raise GradeError(f"building the students' environment failed: `{' '.join(argv)}` exited "
                         f"{done.returncode}; see pip's message above")
