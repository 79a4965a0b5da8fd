"""Warm kernel starts: a template process per worker forks each submission's sandboxed kernel.

The template (grader/kernel/template_agent.py, sent as source into the students' Python)
has imported ipykernel, numpy, torch (with torch._dynamo) and matplotlib's drawing code once and never runs
student code. Each kernel is a fork of it that, before any student byte runs, does what the
bwrap chain of grader/sandbox/bwrap.py does: its own cgroups, rlimits, namespaces and root
file system, the slot's uid, no capabilities, no_new_privs. So a kernel is ready in a
fraction of the cold start's 2-3 CPU-seconds of imports.

One template per worker serves the worker's two slots (the running kernel's and the spare's):
the slot only matters after the fork (uid, cgroups), which the child takes on itself, and the
template never runs student code, so a second template would add only memory.

Death: the worker is a child subreaper, so each sandbox's pid 1 (whose parent exits at once)
becomes the worker's child, driven like a Popen (`AdoptedProcess`). pid 1 also watches a
lifeline pipe whose write end only the worker holds: when the worker dies, pid 1 exits and
the kernel takes every process of its pid namespace down with it. The template exits when
the worker's end of its socket closes.

Where the template cannot start (not root, no CAP_SYS_ADMIN, imports failing) the worker
logs a warning once and starts kernels cold, through bwrap, as before.

The same machinery serves the homework's scorer (grader/homework/warm_scorer.py): a second
template per worker and Python, warmed with transformers instead of ipykernel (a TemplateSpec),
whose children run infer.py in-process instead of a kernel (`fork` with request["run"] "script").
"""

from __future__ import annotations

import atexit
import ctypes
import json
import logging
import multiprocessing.util
import os
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from grader.sandbox.bwrap import ETC_FILES, Sandbox, SandboxPaths
from grader.sandbox.interpreter import Interpreter
from grader.sandbox.limits import Limits

TEMPLATE_START_TIMEOUT_S = 120.0  # imports on a loaded machine
FORK_TIMEOUT_S = 30.0  # from the request to "ready": mounts and a fork, normally ~50 ms
PR_SET_CHILD_SUBREAPER = 36
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"  # installed with ipykernel
# The agent's source: its sandbox half (the root, the privileges), then the template itself.
_AGENT_FILES = (Path(__file__).with_name("template_sandbox.py"), Path(__file__).with_name("template_agent.py"))
log = logging.getLogger("grade")


@dataclass(frozen=True)
class TemplateSpec:
    """What a template imports ahead (the agent's warm-up and its arguments), and how its Python
    starts: what its imports read from the environment must be what each child gets."""

    warm: tuple[Any, ...] = ("kernel",)  # serve()'s arguments after the socket: a WARM_UPS name, then its own
    env: tuple[tuple[str, str], ...] = ()  # on top of the sandbox's environment
    flags: tuple[str, ...] = ()  # the interpreter's options, e.g. ("-I",) as a cold script is started
    starts: str = "kernels"  # what its children are, for the warning when it cannot start


KERNEL = TemplateSpec()  # its warm-up imports torch._dynamo too (template_agent.py's warm_up)


def kernel_spec(ahead: tuple[str, ...] | None = None) -> TemplateSpec:
    """The kernel template that imports `ahead` besides ipykernel, numpy and torch (None: the default,
    torch._dynamo; see grader/pipeline/template_imports.py for who decides)."""
    return KERNEL if ahead is None else TemplateSpec(warm=("kernel", tuple(ahead)))


class TemplateError(RuntimeError):
    """The template could not start, or could not start one kernel (the message says at which step)."""


class AdoptedProcess:
    """A sandbox's pid 1, re-parented to this process: what jupyter_client's provisioner needs of a Popen."""

    stdin = stdout = stderr = None

    def __init__(self, pid: int, lifeline: int) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self._lifeline: int | None = lifeline
        self._pidfd = os.pidfd_open(pid)  # signals reach this process, never a reused pid
        deadline = time.monotonic() + 5
        while _parent_of(pid) not in (os.getpid(), None) and time.monotonic() < deadline:
            time.sleep(0.002)  # the first child is exiting; its orphan comes to us then

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                pid, status = self.pid, 137 << 8  # reaped elsewhere: count it as killed
            if pid == 0:
                return None
            self.returncode = os.waitstatus_to_exitcode(status)
            self._release()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"sandbox pid {self.pid}", timeout or 0)
            select.select([self._pidfd], [], [], 0.1 if deadline is None else max(0.0, min(0.1, deadline - time.monotonic())))
        assert self.returncode is not None
        return self.returncode

    def send_signal(self, signum: int) -> None:
        if self.returncode is None and self._pidfd >= 0:
            signal.pidfd_send_signal(self._pidfd, signum)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def _release(self) -> None:
        if self._lifeline is not None:
            os.close(self._lifeline)
            self._lifeline = None
        if self._pidfd >= 0:
            os.close(self._pidfd)
            self._pidfd = -1

    def __del__(self) -> None:
        if self.returncode is None:
            try:
                self.kill()
                self.wait(timeout=5)
            except Exception:  # noqa: BLE001
                pass


def _parent_of(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("PPid:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


class KernelTemplate:
    """The worker's end of one template process."""

    def __init__(self, interpreter: Interpreter, limits: Limits, spec: TemplateSpec = KERNEL) -> None:
        self.interpreter = interpreter
        self.spec = spec
        # Named like the workers' scratch folders (grader/kernel/spare.py's SCRATCH_PREFIX): the next
        # run removes what a killed worker left.
        # A worker may hold a kernel and a scorer template; a process grading with other options, more.
        kind = "" if spec == KERNEL else f"-{spec.warm[0]}-{zlib.crc32(repr(spec).encode()):08x}"
        self.scratch = Path(tempfile.gettempdir()) / f"grade-{os.getpid()}-template{kind}"
        shutil.rmtree(self.scratch, ignore_errors=True)
        self.scratch.mkdir(mode=0o700)
        self.mpl_dir = str(self.scratch / "matplotlib")
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        env = Sandbox(0, limits, interpreter).environment(self.scratch)
        # OpenBLAS starts its thread pool when numpy is imported: none in the template (each kernel
        # gets its pool back, grader/kernel/template_agent.py's blas_threads).
        env.update(MPLBACKEND=INLINE_BACKEND, MPLCONFIGDIR=self.mpl_dir, **dict(spec.env), OPENBLAS_NUM_THREADS="1")
        code = "\n".join(f.read_text() for f in _AGENT_FILES) + f"\nserve({theirs.fileno()}, *{spec.warm!r})\n"
        _set_child_subreaper()
        with open(self.scratch / "template.log", "wb") as errors:
            self.process = subprocess.Popen([str(interpreter.executable), *spec.flags, "-c", code], env=env,
                                            cwd=self.scratch,
                                            pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL,
                                            stdout=subprocess.DEVNULL, stderr=errors)
        theirs.close()
        self._sock = ours
        self._lock = threading.Lock()
        ours.settimeout(TEMPLATE_START_TIMEOUT_S)
        try:
            first = ours.recv(4096).decode(errors="replace")
        except OSError as error:
            first = f"error: no answer ({error})"
        ours.settimeout(None)
        if not first.startswith("ready"):
            self.close()
            tail = (self.scratch / "template.log").read_text(errors="replace")[-500:] if self.scratch.exists() else ""
            raise TemplateError(f"the {spec.warm[0]} template did not start: {first or 'it exited'} {tail}".strip())

    def start(self, sandbox: Sandbox, paths: SandboxPaths, env: dict[str, str], connection_file: str,
              log: IO[bytes]) -> AdoptedProcess:
        """Fork one sandboxed kernel; returns its pid 1 once the kernel is about to start."""
        request = self.request(sandbox, paths, env) | {"run": "kernel", "connection_file": connection_file}
        return self.fork(request, log)

    def request(self, sandbox: Sandbox, paths: SandboxPaths, env: dict[str, str]) -> dict[str, Any]:
        """What every child is told: the sandbox (cgroups, limits, root, uid) and its environment;
        the caller adds what runs (request["run"]) and any extra mounts."""
        root = paths.runtime.parent / "root"
        root.mkdir(mode=0o700, exist_ok=True)
        limits = sandbox.limits
        return {
            "cgroups": [str(g) for g in sandbox.cgroups],
            "rlimits": {**({"as": limits.address_space_bytes} if limits.address_space_bytes else {}),
                        "nproc": limits.max_processes, "fsize": limits.max_file_bytes,
                        "cpu": limits.cpu_seconds, "core": 0},
            "root": str(root),
            "etc": [[f"/etc/{name}", f"/etc/{name}"] for name in ETC_FILES if Path("/etc", name).exists()]
                   + [[str(paths.runtime.parent / "passwd"), "/etc/passwd"],
                      [str(paths.runtime.parent / "group"), "/etc/group"]],
            "prefixes": [str(p) for p in sandbox.interpreter.prefixes],
            "workdir": str(paths.workdir),
            "runtime": str(paths.runtime),
            "private_dirs": [self.mpl_dir],
            "uid": sandbox.uid,
            "env": env,
        }

    def fork(self, request: dict[str, Any], log: IO[bytes]) -> AdoptedProcess:
        """Send one request (its output going to `log`); returns the child's pid 1 once its payload
        is about to run. TemplateError, saying at which step, when it could not be started."""
        status_r, status_w = os.pipe()
        lifeline_r, lifeline_w = os.pipe()
        try:
            with self._lock:
                if self.process.poll() is not None:
                    raise TemplateError(f"the kernel template exited (status {self.process.returncode})")
                socket.send_fds(self._sock, [json.dumps(request).encode()], [log.fileno(), status_w, lifeline_r])
        except BaseException:
            for fd in (status_r, lifeline_w):
                os.close(fd)
            raise
        finally:
            os.close(status_w)
            os.close(lifeline_r)
        lines = _read_status(status_r)
        pid = next((int(line.split()[1]) for line in lines if line.startswith("pid ")), None)
        process = AdoptedProcess(pid, lifeline_w) if pid is not None else None
        if process is None:
            os.close(lifeline_w)
        if "ready" not in lines:
            if process is not None:
                process.kill()
                process.wait(timeout=5)
            errors = [line[len("error "):] for line in lines if line.startswith("error ")]
            raise TemplateError(f"the sandboxed {request['run']} could not start: "
                                + (errors[0] if errors else f"no answer within {FORK_TIMEOUT_S:g} s"))
        assert process is not None
        return process

    def alive(self) -> bool:
        return self.process.poll() is None

    def close(self) -> None:
        self._sock.close()  # the template exits at the end of its socket
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.scratch, ignore_errors=True)


def _read_status(fd: int) -> list[str]:
    """The status lines of one start, until every writer has closed the pipe (or the timeout)."""
    data = b""
    deadline = time.monotonic() + FORK_TIMEOUT_S
    try:
        while (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                break
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            data += chunk
            if b"ready\n" in data or b"error " in data and data.endswith(b"\n"):
                break
    finally:
        os.close(fd)
    return data.decode(errors="replace").splitlines()


def _set_child_subreaper() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise TemplateError(f"cannot become a child subreaper (errno {ctypes.get_errno()})")


# -- one template per worker and kernel Python ----------------------------------------------------
_templates: dict[tuple[str, int, TemplateSpec], KernelTemplate | None] = {}
_templates_lock = threading.Lock()


def template_for(interpreter: Interpreter, limits: Limits, spec: TemplateSpec = KERNEL) -> KernelTemplate | None:
    """This worker's template for that Python and warm-up (started on first use); None: start cold."""
    key = (str(interpreter.executable), limits.torch_threads, spec)
    with _templates_lock:
        template = _templates.get(key)
        if template is not None and not template.alive():
            log.warning("the warm %s template exited (status %s); starting a new one",
                        spec.warm[0], template.process.returncode)
            template.close()
            template = None
            _templates.pop(key)
        if key not in _templates:
            try:
                if os.geteuid() != 0:
                    raise TemplateError("warm kernels need root (to make namespaces and switch uid)")
                template = KernelTemplate(interpreter, limits, spec)
                if not _templates:
                    # Closed as this process ends: atexit for a plain process, Finalize for one that
                    # multiprocessing started (a pool worker, a Dask worker), where atexit never runs.
                    atexit.register(close_templates)
                    multiprocessing.util.Finalize(None, close_templates, exitpriority=5)
            except (TemplateError, OSError) as error:
                log.warning("%s; starting sandboxed %s cold, through bwrap (--kernel-start cold)", error, spec.starts)
                template = None
            _templates[key] = template
        return template


def close_templates() -> None:
    """End this worker's templates (the pool's shutdown; a killed worker's end on their own)."""
    with _templates_lock:
        for template in _templates.values():
            if template is not None:
                template.close()
        _templates.clear()
