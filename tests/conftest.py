import os
import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# A fixture course's own test files (tests/fixtures/course-b/reference/*/tests) are graded, not collected.
collect_ignore = ["fixtures"]


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


def sandbox_available() -> bool:
    return os.geteuid() == 0 and shutil.which("bwrap") is not None


requires_sandbox = pytest.mark.skipif(not sandbox_available(), reason="needs root and bubblewrap")

# Tests that start `python` again (a second process) need to execute this interpreter, which a
# user other than its owner may not: e.g. a venv whose python links into a 0700 /root.
requires_runnable_interpreter = pytest.mark.skipif(
    not os.access(sys.executable, os.X_OK), reason=f"this user cannot execute {sys.executable}")


@pytest.fixture(scope="session")
def postgres_url():  # type: ignore[no-untyped-def]
    """A private PostgreSQL cluster for the session (tests/postgres.py); skips where none is installed."""
    from tests.postgres import cluster, pg_bin

    binaries = pg_bin()
    if binaries is None:
        pytest.skip("PostgreSQL is not installed: apt-get install postgresql (scripts/setup.sh does)")
    with cluster(binaries) as url:
        yield url


@pytest.fixture(scope="session", autouse=True)
def preflight_stamps(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The pre-flight's stamps (grader/pipeline/course_stamps.py) in a folder of this session's: a test
    session never reads a developer's stamps, and CI starts clean. A test may set its own
    (monkeypatch.setenv); `grade` started as a subprocess inherits it."""
    before = os.environ.get("GRADE_PREFLIGHT_CACHE")
    os.environ["GRADE_PREFLIGHT_CACHE"] = str(tmp_path_factory.mktemp("preflight-stamps"))
    yield
    if before is None:
        os.environ.pop("GRADE_PREFLIGHT_CACHE", None)
    else:
        os.environ["GRADE_PREFLIGHT_CACHE"] = before
