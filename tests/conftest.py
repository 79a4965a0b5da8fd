import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


def sandbox_available() -> bool:
    return os.geteuid() == 0 and shutil.which("bwrap") is not None


requires_sandbox = pytest.mark.skipif(not sandbox_available(), reason="needs root and bubblewrap")
