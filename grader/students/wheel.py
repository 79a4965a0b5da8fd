"""A wheel of this grade, shipped inside the release: students install the grade that grades them.

The name `grade` on PyPI belongs to another project, so `grade==0.2.0` in a release's
requirements.txt cannot install this one. The release carries `wheels/grade-<version>-py3-none-any.whl`
instead, built here from grade's own source (the folder holding pyproject.toml beside `grader/`),
and requirements.txt names that file. The wheel still declares grade's dependencies, server-side
ones included (SQLAlchemy, Starlette, Dask...): pip installs them too.
"""

from __future__ import annotations

import atexit
import hashlib
import importlib.metadata
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import grader
from grader import __version__
from grader.errors import GradeError

WHEELS = Path("wheels")
_built: dict[str, Path] = {}  # sources' sha256 -> the wheel built from them in this process


def wheel_name() -> str:
    return f"grade-{__version__}-py3-none-any.whl"


def source_root() -> Path:
    """grade's source: the folder with grade's pyproject.toml and grader/ (a checkout, an editable install)."""
    root = Path(grader.__file__).resolve().parent.parent
    pyproject = root / "pyproject.toml"
    if not pyproject.is_file() or 'name = "grade"' not in pyproject.read_text(encoding="utf-8"):
        raise GradeError(f"grade's source (pyproject.toml beside {Path(grader.__file__).parent}) is not here, so no "
                         "wheel of grade can go into the release; run grade from its checkout (pip install -e) or "
                         "pass --grade-requirement with a requirement students can install")
    return root


def copy_wheel(dest_dir: Path) -> Path:
    """Put the wheel of this grade into dest_dir; returns its path. Built once per process and source."""
    root = source_root()
    files = [root / "pyproject.toml", root / "README.md",
             *sorted(p for p in (root / "grader").rglob("*") if p.is_file() and _is_source(p))]
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    key = digest.hexdigest()
    if key not in _built or not _built[key].is_file():
        _built[key] = _build(root, files)
    dest_dir.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copyfile(_built[key], dest_dir / wheel_name()))


def _is_source(path: Path) -> bool:
    return "__pycache__" not in path.parts and path.suffix not in (".pyc", ".pyo")


def _build(root: Path, files: list[Path]) -> Path:
    """pip wheel on a clean copy of the sources (setuptools writes build/ and egg-info beside them)."""
    work = Path(tempfile.mkdtemp(prefix="grade-wheel-"))
    atexit.register(shutil.rmtree, work, True)
    source = work / "source"
    for path in files:
        target = source / path.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    # Without build isolation where this Python's setuptools will do (pyproject.toml asks for >= 68):
    # nothing to fetch, a few seconds. Else pip fetches setuptools into an isolated build environment.
    isolation = ["--no-build-isolation"] if _setuptools_major() >= 68 else []
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--disable-pip-version-check",
               *isolation, "--wheel-dir", str(work / "dist"), str(source)]
    done = subprocess.run(command, capture_output=True, text=True)
    wheel = work / "dist" / wheel_name()
    if done.returncode != 0 or not wheel.is_file():
        raise GradeError(f"building the wheel of grade for the release failed (`{' '.join(command)}`): "
                         f"{(done.stderr or done.stdout).strip()[-600:]}")
    return wheel


def _setuptools_major() -> int:
    try:
        return int(importlib.metadata.version("setuptools").split(".")[0])
    except (importlib.metadata.PackageNotFoundError, ValueError):
        return 0
