"""The warm template's agent (grader/kernel/template_agent.py), in a fresh Python as the template runs it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from grader.kernel.template import _AGENT_FILES

# A stand-in for the CUDA driver: cuDeviceGetCount answers as the real one does before cuInit (3,
# CUDA_ERROR_NOT_INITIALIZED) or after it (0).
FAKE_DRIVER = "int cuDeviceGetCount(int *count) { *count = 1; return %d; }\n"


def agent_says(driver: Path | None) -> str:
    """cuda_touched() in a fresh Python that has loaded `driver`, as the template checks it after its imports."""
    load = "" if driver is None else f"import ctypes\nctypes.CDLL({str(driver)!r})\n"
    code = "\n".join(f.read_text() for f in _AGENT_FILES) + "\n" + load + "print(cuda_touched())\n"
    done = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler for the stand-in driver")
def test_a_template_may_fork_with_the_cuda_driver_loaded_but_not_initialised(tmp_path: Path) -> None:
    """A scorer template must not fork once CUDA is initialised (a child could not use the GPU); the
    driver library loaded by `import torch` on a GPU host is fine."""
    assert agent_says(None) == "None"  # a fresh Python: no driver at all
    for status, expected in ((3, "None"), (0, "the CUDA driver was initialised during the imports")):
        folder = tmp_path / str(status)
        folder.mkdir()
        (folder / "driver.c").write_text(FAKE_DRIVER % status)
        driver = folder / "libcuda.so.1"
        subprocess.run(["cc", "-shared", "-fPIC", "-o", str(driver), str(folder / "driver.c")], check=True)
        assert agent_says(driver).startswith(expected)


def test_the_agent_source_defines_every_warm_up_and_payload() -> None:
    """The two files are sent as one source: every name one half uses of the other must exist."""
    namespace: dict[str, object] = {}
    exec(compile("\n".join(f.read_text() for f in _AGENT_FILES), "agent", "exec"), namespace)  # defines only
    assert set(namespace["WARM_UPS"]) == {"kernel", "scorer"}  # type: ignore[arg-type]
    assert set(namespace["RUNS"]) == {"kernel", "script"}  # type: ignore[arg-type]
    for name in ("build_root", "extra_mount", "drop_privileges", "close_fds", "mount", "prctl", "report"):
        assert callable(namespace[name]), name
