"""Stamps of assignments found sound, kept across runs, so an unchanged course's pre-flight costs nothing.

An instructor grades the same course many times (each week's hand-ins, late ones, regrades). The
notebook kind's pre-flight costs seconds of CPU every time (05: 4.4 s, torch imported and the
reference run against its suites), and a coordinator holding torch pays another second at exit.
A stamp says "this assignment passed, with everything its check reads as it is now": its name is a
digest of all of that (stamp_key), so a changed test, reference, rubric, conftest.py, a change to
grade's own code, to the Python or to an installed distribution names another stamp, and the check
runs again. Only kinds that opt in are stamped (AssignmentKind.check_remembered).

The folder is a cache and never fails a run: a stamp that cannot be read or written means the check
runs (and the reason is logged at debug level). A stamp can only skip a check that passed with the
same inputs; it never changes a verdict.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from grader.course.assignments import Assignment

log = logging.getLogger("grader.preflight")

FORMAT = 1  # what a key is made of; bumped when that changes, so older stamps are never read
# Options pytest reads from the environment: they change what the suites run.
PYTEST_ENVIRONMENT = ("PYTEST_ADDOPTS", "PYTEST_PLUGINS")


def stamps_folder() -> Path:
    """$GRADE_PREFLIGHT_CACHE, else $XDG_CACHE_HOME/grade/preflight, else ~/.cache/grade/preflight
    (the convention of grader/course/environment.py envs_root)."""
    configured = os.environ.get("GRADE_PREFLIGHT_CACHE")
    if configured:
        return Path(configured)
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")  # never raises, unlike Path.home()
    return Path(cache) / "grade" / "preflight"


def stamp_key(assignment: Assignment) -> str:
    """A digest of everything the kind's check_course reads: change any of it and the key changes.

    Raises OSError when a file cannot be read (the caller then just runs the check)."""
    kind = assignment.kind
    parts = {
        "format": FORMAT,
        "kind": [kind.name, f"{type(kind).__module__}.{type(kind).__qualname__}"],
        "assignment": assignment.name,
        "root": str(assignment.root.resolve()),
        "hashes": assignment.hashes,  # the tests (*.py), the reference, the rubric
        "files": course_files(assignment),
        "grade": grade_digest(),
        "python": python_fingerprint(),
        "environment": {name: os.environ.get(name) for name in PYTEST_ENVIRONMENT},
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def course_files(assignment: Assignment) -> dict[str, str]:
    """The content hashes of what pytest reads beyond the test files of assignment.hashes: every
    conftest.py from a test's folder up to the course root (pytest's --confcutdir, see
    grader/checks/runner.py), and the other files of the tests folder (data a test may open)."""
    stop = assignment.root.parent.parent.resolve()  # the --confcutdir the runner passes
    folders: set[Path] = set()
    for test in assignment.test_files():
        folder = test.parent.resolve()
        while folder not in folders:
            folders.add(folder)
            if folder == stop or folder.parent == folder or stop not in folder.parents:
                break
            folder = folder.parent
    files = [folder / "conftest.py" for folder in folders if (folder / "conftest.py").is_file()]
    tests = assignment.tests_root
    if tests.is_dir():
        files += [path for path in tests.rglob("*") if path.is_file() and path.suffix not in (".py", ".pyc")
                  and "__pycache__" not in path.parts]
    return {str(path): hashlib.sha256(path.read_bytes()).hexdigest() for path in sorted(set(files))}


@functools.cache
def grade_digest() -> str:
    """The content digest of the installed `grader` package's .py files (171 files: 6 ms, once per process)."""
    import grader

    root = Path(grader.__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


@functools.cache
def python_fingerprint() -> dict[str, object]:
    """The Python and the distributions installed for it, by name and version.

    The names of the *.dist-info and *.egg-info folders on sys.path carry both (the wheel spec's
    `{name}-{version}.dist-info`), which is where importlib.metadata finds them too: listing them costs
    under 1 ms, where reading each distribution's METADATA through importlib.metadata measured 70-100 ms."""
    found: set[str] = set()
    for entry in sys.path:
        try:
            with os.scandir(entry or ".") as listing:
                found.update(item.name for item in listing if item.name.endswith((".dist-info", ".egg-info")))
        except OSError:
            continue  # a zip, a folder that is gone: nothing installed there
    return {"version": sys.version, "executable": sys.executable, "distributions": sorted(found)}


def read_stamp(key: str) -> datetime | None:
    """When the assignment with this key was found sound, or None when no readable stamp says so."""
    path = stamps_folder() / f"{key}.json"
    try:
        stamp = json.loads(path.read_text("utf-8"))
        if stamp.get("key") != key:
            raise ValueError("the stamp names another key")
        return datetime.fromisoformat(stamp["checked_at"])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        log.debug("pre-flight stamp %s unreadable, checking again: %s", path, error)
        return None


def write_stamp(key: str, assignment: Assignment) -> None:
    """Record that the assignment passed its check: atomically (a temporary file, then os.replace), so a
    reader never sees half a stamp. Never raises: a folder that cannot be written only costs the next check."""
    folder = stamps_folder()
    stamp = {"key": key, "assignment": assignment.name, "root": str(assignment.root.resolve()),
             "checked_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    temporary = None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=folder, prefix=".stamp-", suffix=".tmp", delete=False,
                                         encoding="utf-8") as out:
            temporary = Path(out.name)
            json.dump(stamp, out)
        os.replace(temporary, folder / f"{key}.json")
    except OSError as error:
        log.debug("pre-flight stamp not written to %s: %s", folder, error)
        if temporary is not None:
            with contextlib.suppress(OSError):
                temporary.unlink(missing_ok=True)
