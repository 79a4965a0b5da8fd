"""Warm kernels (grader/kernel/template.py): each sandboxed kernel is a fork of a template that
imported ipykernel and torch once. These run real forked kernels in the real sandbox and show that
the fork is as isolated as a cold bwrap start, and that nothing of one student reaches the next.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import nbformat
import pytest

from grader.course.config import load_course_config
from grader.course.environment import kernel_interpreter
from grader.kernel.execute import KernelSession
from grader.kernel.spare import new_scratch
from grader.kernel.template import PR_SET_CHILD_SUBREAPER, TemplateError, close_templates, kernel_spec, template_for
from grader.models import Status
from grader.sandbox.bwrap import SANDBOX_UID_BASE, Limits, Sandbox, claim_slot, process_alive
from grader.sandbox.interpreter import Interpreter
from grader.sandbox.limits import MiB
from tests.conftest import REPO, requires_sandbox

pytestmark = [pytest.mark.sandbox, requires_sandbox]

LIMITS = Limits(cell_timeout_s=30, submission_timeout_s=90, memory_bytes=512 * MiB)
FACTS = "print('FACTS', __import__('json').dumps(facts))"


@pytest.fixture(scope="module", autouse=True)
def _templates_end_with_this_module():  # type: ignore[no-untyped-def]
    """The templates these tests start in this process end here, not at exit (other tests count
    this process's children), and this process stops being a child subreaper (a Dask worker's
    orphaned template would otherwise be re-parented to it)."""
    yield
    close_templates()
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)


@pytest.fixture(scope="module")
def kernel_python() -> Interpreter | None:
    return kernel_interpreter(load_course_config(REPO))


@pytest.fixture()
def slot():  # type: ignore[no-untyped-def]
    number, lock = claim_slot()
    yield number
    os.close(lock)


def run(code: str, slot: int, kernel_python: Interpreter | None, limits: Limits = LIMITS,
        files: dict[str, str] | None = None, template_imports: tuple[str, ...] | None = None) -> tuple[dict, object]:
    """Run one cell in a warm kernel; the `facts` dict it prints, and the execution."""
    scratch, paths = new_scratch()
    try:
        for name, text in (files or {}).items():
            (paths.workdir / name).write_text(text)
        sandbox = Sandbox(slot, limits, kernel_python)
        with KernelSession(paths, limits, sandbox, warm=True, template_imports=template_imports) as session:
            assert session.km is not None
            assert type(session.km.provisioner.process).__name__ == "AdoptedProcess", "the kernel was not forked"
            nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code + "\n" + FACTS)])
            execution = session.run_notebook(nb)
        lines = [line for line in execution.output_excerpt.splitlines() if line.startswith("FACTS ")]
        return (json.loads(lines[-1][6:]) if lines else {}), execution
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


PROBE = textwrap.dedent("""
    import os, socket, json
    facts = {}
    facts["uid"] = (os.getuid(), os.geteuid(), os.getgid(), os.getgroups())
    status = dict(line.split(":", 1) for line in open("/proc/self/status"))
    facts["caps"] = {k: int(status[k], 16) for k in ("CapEff", "CapPrm", "CapBnd", "CapInh", "CapAmb")}
    facts["no_new_privs"] = int(status["NoNewPrivs"])
    facts["pid"] = os.getpid()
    facts["pids"] = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
    facts["interfaces"] = [name for _, name in socket.if_nameindex()]
    try:
        socket.create_connection(("1.1.1.1", 53), timeout=2)
        facts["connected"] = True
    except OSError as error:
        facts["connected"] = str(error)
    facts["visible"] = {p: os.path.exists(p) for p in PATHS}
    def writable(path):
        try:
            with open(path, "w") as f:
                f.write("x")
            return True
        except OSError:
            return False
    facts["writable"] = {p: writable(p) for p in ("/x", "/usr/x", "/etc/x", os.getcwd() + "/x", "/tmp/x")}
    facts["cwd"] = os.getcwd()
    flags = {p: os.statvfs(p).f_flag for p in ("/usr", os.getcwd())}
    facts["nosuid_nodev"] = {p: bool(f & os.ST_NOSUID) and bool(f & os.ST_NODEV) for p, f in flags.items()}
    import helper_beside
    facts["own_module"] = helper_beside.VALUE
""")


def test_a_forked_kernel_is_as_isolated_as_a_cold_one(slot: int, kernel_python: Interpreter | None,
                                                     tmp_path: Path) -> None:
    gradebook = tmp_path / "grade.db"
    gradebook.write_text("secret")
    neighbour, _ = new_scratch()  # another student's folder, on the same host
    try:
        hidden = [str(REPO / "reference"), str(REPO / "rubrics"), str(gradebook), str(neighbour)]
        facts, execution = run(f"PATHS = {hidden!r}\n" + PROBE, slot, kernel_python,
                               files={"helper_beside.py": "VALUE = 42\n"})
    finally:
        shutil.rmtree(neighbour, ignore_errors=True)
    assert execution.status is Status.GRADED, execution.message
    uid = SANDBOX_UID_BASE + slot
    assert facts["uid"] == [uid, uid, uid, []]
    assert facts["caps"] == {"CapEff": 0, "CapPrm": 0, "CapBnd": 0, "CapInh": 0, "CapAmb": 0}
    assert facts["no_new_privs"] == 1
    assert facts["pid"] < 10 and max(facts["pids"]) < 50, facts["pids"]  # a pid namespace of its own
    assert facts["interfaces"] == ["lo"] and facts["connected"] is not True
    assert not any(facts["visible"].values()), facts["visible"]
    assert facts["writable"] == {"/x": False, "/usr/x": False, "/etc/x": False,
                                 facts["cwd"] + "/x": True, "/tmp/x": True}
    assert facts["nosuid_nodev"] == {"/usr": True, facts["cwd"]: True}, facts["nosuid_nodev"]  # as bwrap's binds
    assert facts["own_module"] == 42  # a module beside the notebook imports, as with python -m ipykernel_launcher


LEAKS = textwrap.dedent("""
    import os, torch, numpy, torch.nn.functional
    torch.leak = 1
    numpy.leak = 1
    torch.nn.functional.softmax = lambda *a, **k: 0
    open("/tmp/leak", "w").write("A was here")
    open(os.path.expanduser("~/.leak"), "w").write("A was here")
    os.environ["LEAK"] = "A"
    facts = {"done": True}
""")
SEES = textwrap.dedent("""
    import os, torch, numpy, torch.nn.functional
    facts = {
        "torch.leak": hasattr(torch, "leak"),
        "numpy.leak": hasattr(numpy, "leak"),
        "softmax": float(torch.nn.functional.softmax(torch.zeros(2), dim=0)[0]),
        "/tmp/leak": os.path.exists("/tmp/leak"),
        "~/.leak": os.path.exists(os.path.expanduser("~/.leak")),
        "LEAK": os.environ.get("LEAK"),
    }
""")


def test_nothing_of_one_student_reaches_the_next(slot: int, kernel_python: Interpreter | None) -> None:
    """Student A and student B, one after the other from the same template: B sees none of A's state."""
    template = template_for(kernel_python or Interpreter.running(), LIMITS)
    assert template is not None, "no warm template here"
    a, execution_a = run(LEAKS, slot, kernel_python)
    assert a == {"done": True}, execution_a.message
    b, execution_b = run(SEES, slot, kernel_python)
    assert template_for(kernel_python or Interpreter.running(), LIMITS) is template  # the same template forked B
    assert template.alive()
    assert b == {"torch.leak": False, "numpy.leak": False, "softmax": 0.5, "/tmp/leak": False,
                 "~/.leak": False, "LEAK": None}, execution_b.message


TRAINS = textwrap.dedent("""
    import sys
    facts = {"dynamo before": "torch._dynamo" in sys.modules, "debugger before": "ipykernel.debugger" in sys.modules}
    import torch
    model = torch.nn.Linear(3, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    model(torch.ones(2, 3)).sum().backward()
    optimizer.step()
    facts["dynamo after"] = "torch._dynamo" in sys.modules
""")


def test_a_template_without_dynamo_still_trains_and_each_import_set_has_its_own_template(
        slot: int, kernel_python: Interpreter | None) -> None:
    """A run whose assignments never train gets a template without torch._dynamo (2 CPU-s): a student
    who trains anyway imports it in their own kernel. Both templates live side by side in one process."""
    lean, execution = run(TRAINS, slot, kernel_python, template_imports=())
    assert lean == {"dynamo before": False, "debugger before": True, "dynamo after": True}, execution.message
    full, execution = run(TRAINS, slot, kernel_python)
    assert full == {"dynamo before": True, "debugger before": True, "dynamo after": True}, execution.message
    python = kernel_python or Interpreter.running()
    default, without = template_for(python, LIMITS), template_for(python, LIMITS, kernel_spec(()))
    assert default is not None and without is not None and default is not without
    assert default.alive() and without.alive() and default.scratch != without.scratch


def test_with_two_torch_threads_the_template_stays_single_threaded(slot: int,
                                                                  kernel_python: Interpreter | None) -> None:
    """OMP_NUM_THREADS=2 would give numpy's OpenBLAS a thread pool at import: the template has none
    (a fork copies one thread), the kernel gets its two threads back."""
    limits = Limits(cell_timeout_s=30, submission_timeout_s=90, torch_threads=2)
    code = ("import numpy, torch\nfacts = {'torch': torch.get_num_threads(), "
            "'matmul': float((numpy.ones((300, 300)) @ numpy.ones((300, 300)))[0, 0])}")
    facts, execution = run(code, slot, kernel_python, limits)
    assert facts == {"torch": 2, "matmul": 300.0}, execution.message
    template = template_for(kernel_python or Interpreter.running(), limits)
    assert template is not None and len(os.listdir(f"/proc/{template.process.pid}/task")) == 1


def test_the_memory_cap_still_kills_a_memory_bomb(slot: int, kernel_python: Interpreter | None) -> None:
    limits = Limits(cell_timeout_s=60, submission_timeout_s=90, memory_bytes=256 * MiB)
    if not Sandbox(slot, limits).memory_capped and not _cgroups_here(slot, limits):
        pytest.skip("no memory cgroup on this host")
    facts, execution = run("import numpy\nx = numpy.ones(2 * 1024**3 // 8)\nfacts = {'survived': True}",
                           slot, kernel_python, limits)
    assert execution.status is Status.ERROR and "memory limit" in execution.message, execution.message
    assert facts == {}


def _cgroups_here(slot: int, limits: Limits) -> bool:
    scratch, paths = new_scratch()
    sandbox = Sandbox(slot, limits)
    try:
        sandbox.prepare(paths)
        return sandbox.memory_capped
    finally:
        sandbox.cleanup()
        shutil.rmtree(scratch, ignore_errors=True)


WORKER = textwrap.dedent("""
    import sys, time
    from grader.course.config import load_course_config
    from grader.course.environment import kernel_interpreter
    from grader.kernel.execute import KernelSession
    from grader.kernel.spare import new_scratch
    from grader.sandbox.bwrap import Limits, Sandbox, claim_slot
    from pathlib import Path
    slot, lock = claim_slot()
    scratch, paths = new_scratch()
    limits = Limits()
    session = KernelSession(paths, limits, Sandbox(slot, limits, kernel_interpreter(load_course_config(Path(sys.argv[1])))),
                            warm=True).__enter__()
    process = session.km.provisioner.process
    print(process.pid, session.km.provisioner.__class__.__name__, type(process).__name__, flush=True)
    time.sleep(600)
""")


def test_the_kernel_dies_with_its_worker() -> None:
    """SIGKILL the process that started a warm kernel: the sandbox (pid 1 and the kernel) goes too."""
    worker = subprocess.Popen([sys.executable, "-c", WORKER, str(REPO)], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        line = worker.stdout.readline().split()  # type: ignore[union-attr]
        assert line and line[2] == "AdoptedProcess", line
        pid1 = int(line[0])
        assert process_alive(pid1)
        kernel = [int(p) for p in Path(f"/proc/{pid1}/task/{pid1}/children").read_text().split()]
        assert kernel, "pid 1 has no kernel child"
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (process_alive(pid1) or any(process_alive(k) for k in kernel)):
        time.sleep(0.1)
    assert not process_alive(pid1) and not any(process_alive(k) for k in kernel)


def test_a_failure_in_the_child_comes_back_as_a_clear_error(slot: int, kernel_python: Interpreter | None) -> None:
    template = template_for(kernel_python or Interpreter.running(), LIMITS)
    assert template is not None
    scratch, paths = new_scratch()
    sandbox = Sandbox(slot, LIMITS, kernel_python)
    sandbox.prepare(paths)
    sandbox._cgroups = [Path("/sys/fs/cgroup/grade/no-such-group")]
    try:
        with open(scratch / "kernel.log", "wb") as log, pytest.raises(TemplateError, match="joining the cgroups"):
            template.start(sandbox, paths, sandbox.environment(paths.workdir), str(paths.runtime / "k.json"), log)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    assert template.alive()  # one failed start leaves the template serving


def test_a_template_that_cannot_start_falls_back_to_cold(caplog: pytest.LogCaptureFixture) -> None:
    broken = Interpreter(Path("/bin/false"), ())
    assert template_for(broken, LIMITS) is None
    assert "starting sandboxed kernels cold" in caplog.text
