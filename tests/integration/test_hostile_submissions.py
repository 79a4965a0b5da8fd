"""Hostile and broken submissions, graded in the real sandbox beside an honest one.

Each bad input becomes that student's own result with a status and a message; the
honest student keeps full marks; nothing reaches the course files, the network or
the host's file system.
"""

from __future__ import annotations

import json
import socket
import threading
import zipfile
from pathlib import Path

import nbformat
import pytest

from grader.course.load import load_course
from grader.discover import discover
from grader.pipeline.options import GradingOptions
from grader.pipeline.pool import grade_class
from grader.sandbox.bwrap import GiB, Limits
from grader.store.gradebook import Gradebook
from tests.conftest import requires_sandbox

pytestmark = [pytest.mark.sandbox, requires_sandbox]

GOOD = "import torch\ndef double(x):\n    return x * 2\n"

PROBE = """
import os, socket, pathlib
results = {}
try:
    results['read_reference'] = open(CANARY).read()
except Exception as e:
    results['read_reference'] = 'DENIED ' + type(e).__name__
try:
    socket.create_connection(('127.0.0.1', PORT), timeout=2); results['connect'] = 'CONNECTED'
except Exception as e:
    results['connect'] = 'DENIED ' + type(e).__name__
try:
    open(OUTSIDE, 'w').write('pwned'); results['write_outside'] = 'WROTE'
except Exception as e:
    results['write_outside'] = 'DENIED ' + type(e).__name__
results['uid'] = os.getuid()
print('PROBE', results)
import torch
torch.allclose = lambda *a, **k: True
class AlwaysEqual:
    def __eq__(self, other): return True
def double(x):
    return AlwaysEqual()
print('All tests passed! 3/3')
"""


def notebook(*cells: str) -> str:
    return nbformat.writes(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells]))


@pytest.fixture
def course(tmp_path: Path) -> Path:
    root = tmp_path / "course"
    (root / "rubrics").mkdir(parents=True)
    (root / "rubrics" / "toy.yaml").write_text(
        "assignment: toy\nnotebook: toy.ipynb\nparts:\n  - name: Doubling\n    tests: {test_double: 2, test_shape: 1}\n")
    ref = root / "reference" / "toy"
    (ref / "tests" / "hidden").mkdir(parents=True)
    (ref / "tests" / "public").mkdir(parents=True)
    (ref / "toy.ipynb").write_text(notebook(GOOD))
    (ref / "canary.txt").write_text("SECRET-CANARY")
    (ref / "tests" / "public" / "test_public.py").write_text(
        "import torch\ndef test_shape(student):\n    assert tuple(student.double(torch.ones(3)).shape) == (3,), 'wrong shape'\n")
    (ref / "tests" / "hidden" / "test_hidden.py").write_text(
        "import torch\ndef test_double(student, reference):\n    x = torch.randn(4)\n    out = student.double(x)\n"
        "    assert isinstance(out, torch.Tensor), f'returned {out!r}, expected a tensor'\n"
        "    assert torch.equal(out, reference.double(x)), 'double(x) is not 2 * x'\n")
    return root


def test_each_bad_input_is_that_students_result(course: Path, tmp_path: Path) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)
    accepted: list[object] = []
    threading.Thread(target=lambda: accepted.append(listener.accept()), daemon=True).start()
    port = listener.getsockname()[1]
    outside = tmp_path / "outside.txt"
    subs = tmp_path / "subs"
    files = {
        "honest/toy.ipynb": notebook(GOOD),
        "prober/toy.ipynb": notebook(f"CANARY={str(course / 'reference/toy/canary.txt')!r}\nPORT={port}\n"
                                     f"OUTSIDE={str(outside)!r}\n" + PROBE),
        "bad_json/toy.ipynb": '{"cells": [',
        "empty/toy.ipynb": "",
        "not_notebook/toy.ipynb": json.dumps({"hello": "world"}),
        "nbformat3/toy.ipynb": json.dumps({"nbformat": 3, "nbformat_minor": 0, "worksheets": [], "metadata": {}}),
        "exits/toy.ipynb": notebook(GOOD, "import os\nos._exit(3)"),
        "sys_exit/toy.ipynb": notebook(GOOD, "import sys\nsys.exit(1)"),
        "segfault/toy.ipynb": notebook(GOOD, "import ctypes\nctypes.string_at(0)"),
        "forkbomb/toy.ipynb": notebook(GOOD, "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass"),
        "memory_bomb/toy.ipynb": notebook(GOOD, "chunks = []\nwhile True:\n    chunks.append(bytearray(64 * 1024 * 1024))"),
        "printer/toy.ipynb": notebook(GOOD, "while True:\n    print('x' * 100000)"),
        "looper/toy.ipynb": notebook(GOOD, "while True:\n    pass"),
        "html_output/toy.ipynb": notebook(GOOD, "print('<script>alert(1)</script><img src=x onerror=alert(1)>')"),
        # the notebook runs fine; the trouble starts when a test calls into it through the bridge
        "loops_when_called/toy.ipynb": notebook("def double(x):\n    while x.numel() == 4:\n        pass\n"
                                                "    return 2 * x"),
        "exits_when_called/toy.ipynb": notebook("import os\ndef double(x):\n    os._exit(4)"),
        "breaks_the_bridge/toy.ipynb": notebook(GOOD, "import comm\ncomm.get_comm_manager = None"),
    }
    for name, text in files.items():
        (subs / name).parent.mkdir(parents=True, exist_ok=True)
        (subs / name).write_text(text)
    (subs / "linker").mkdir()
    (subs / "linker" / "toy.ipynb").symlink_to(course / "reference" / "toy" / "toy.ipynb")
    with zipfile.ZipFile(subs / "zipslip.zip", "w") as archive:
        archive.writestr("../../evil/toy.ipynb", notebook(GOOD))
    with zipfile.ZipFile(subs / "zipbomb.zip", "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("toy.ipynb", b"\0" * (300 * 1024 * 1024))

    loaded = load_course(course)
    limits = Limits(cell_timeout_s=8, submission_timeout_s=20, call_timeout_s=5, memory_bytes=1 * GiB,
                    max_output_bytes=4 * 1024 * 1024)
    with Gradebook(str(tmp_path / "g.db")) as store:
        result = grade_class(discover(subs, loaded), loaded, store, GradingOptions(limits=limits, jobs=2))
    grades = {g.student: g for g in result.grades}

    def status(student: str) -> str:
        return grades[student].status.value

    assert grades["honest"].score == 3 and status("honest") == "graded"
    for student in ("bad_json", "empty", "not_notebook", "nbformat3", "linker", "zipslip", "zipbomb"):
        assert status(student) == "rejected", (student, grades[student].message)
        assert grades[student].message
    assert "not valid JSON" in grades["bad_json"].message
    assert "empty" in grades["empty"].message
    assert "format 3" in grades["nbformat3"].message
    assert "symbolic link" in grades["linker"].message
    assert "unsafe path" in grades["zipslip"].message
    assert "zip bomb" in grades["zipbomb"].message
    for student in ("exits", "segfault", "memory_bomb", "printer"):
        assert status(student) == "error", (student, grades[student].message)
    assert "exit code 3" in grades["exits"].message
    assert "segmentation fault" in grades["segfault"].message
    assert "memory" in grades["memory_bomb"].message
    # ipykernel buffers a print flood in the kernel's own memory faster than it sends it:
    # depending on speed the output cap or the memory cap stops it first; both say why.
    assert "printed more than" in grades["printer"].message or "memory" in grades["printer"].message
    assert status("looper") == "timeout"
    # sys.exit in a cell is an ordinary cell error in IPython; the functions defined before still count
    assert status("sys_exit") == "graded" and grades["sys_exit"].score == 3
    # the fork bomb hits the process limit; it is graded or stopped, never the honest student's problem
    assert status("forkbomb") in ("graded", "error", "timeout")
    assert grades["html_output"].score == 3 and "<script>" in grades["html_output"].execution.output_excerpt

    def messages(student: str) -> str:
        return " | ".join(t.message for t in grades[student].tests)

    # a call that never returns is interrupted after call_timeout_s and the same kernel serves the
    # next test: only the looping input (4 elements, the hidden test's) costs points
    assert grades["loops_when_called"].score == 1, messages("loops_when_called")
    assert "did not return within 5 s" in messages("loops_when_called")
    assert grades["exits_when_called"].score == 0
    assert "kernel died while running double(...)" in messages("exits_when_called")
    # sabotaging the bridge only takes away the saboteur's own answers
    assert grades["breaks_the_bridge"].score == 0
    assert "could not reach the notebook's code" in messages("breaks_the_bridge")

    probe = grades["prober"]
    excerpt = probe.execution.output_excerpt
    assert "SECRET-CANARY" not in excerpt and "'read_reference': 'DENIED" in excerpt
    assert "'connect': 'DENIED" in excerpt and not accepted
    assert "'write_outside': 'DENIED" in excerpt and not outside.exists()
    assert "'uid': 6100" in excerpt
    assert probe.score == 0, "monkeypatching torch or an always-equal object must not pass a check"
    assert (course / "reference" / "toy" / "canary.txt").read_text() == "SECRET-CANARY"
