"""The isolation boundary: bubblewrap namespaces, a dropped uid, and resource limits.

Student code runs only in a process started through `Sandbox.wrap(...)`:
- bubblewrap: new user/pid/net/ipc/uts/cgroup namespaces (no network at all), a
  read-only view of the system and of the Python installation, a private /tmp,
  and exactly two writable folders: the student's own copy of their submission
  and the kernel's socket folder. `reference/`, `rubrics/`, the database and
  other students' work are simply not in the sandbox's file system.
- setpriv: a distinct non-root uid per sandbox slot, all capabilities dropped
  (bwrap run as root keeps them otherwise), no_new_privs.
- prlimit: address space, processes (per uid, hence the distinct uids), file size,
  CPU time as a backstop; wall-clock limits come from the grader process.
- a fresh memory and pids cgroup per submission, v2 or v1, where writable (grader/sandbox/cgroups.py).
"""

from __future__ import annotations

import ctypes
import fcntl
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

from grader.errors import SandboxUnavailable
from grader.sandbox import cgroups
from grader.sandbox.interpreter import Interpreter
from grader.sandbox.limits import GiB, Limits  # noqa: F401 - Limits is part of this module's interface

SANDBOX_UID_BASE = 61000
MAX_SLOTS = 512
# Fixed, not $TMPDIR: every grader on the machine must see the same locks.
SLOT_LOCKS = Path("/tmp/grade-slots" if os.geteuid() == 0 else f"/tmp/grade-slots-{os.geteuid()}")
# The host's /etc entries a sandbox sees (read-only), besides its own passwd and group.
ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives", "localtime", "mime.types")


@dataclass(frozen=True)
class SandboxPaths:
    workdir: Path  # the student's writable copy (becomes the kernel's cwd)
    runtime: Path  # sockets and the connection file; writable by the sandbox uid


def bwrap_path() -> str | None:
    return shutil.which("bwrap")


class Sandbox:
    """Builds the command line that starts a process inside the sandbox for one slot."""

    def __init__(self, slot: int, limits: Limits, interpreter: Interpreter | None = None) -> None:
        self.slot = slot
        self.limits = limits
        # The Python installation the sandboxed process needs, and nothing else of the host's.
        self.interpreter = interpreter or Interpreter.running()
        self.uid = SANDBOX_UID_BASE + slot
        self._cgroups: list[Path] = []
        self._serial = uuid.uuid4().hex[:12]

    # -- setup -------------------------------------------------------------------------
    def prepare(self, paths: SandboxPaths) -> None:
        """Give the sandbox uid its two writable folders, and a passwd entry to be named by."""
        for root in (paths.workdir, paths.runtime):
            self.hand_over(root)
        (paths.runtime.parent / "passwd").write_text(
            f"root:x:0:0:root:/root:/usr/sbin/nologin\nstudent:x:{self.uid}:{self.uid}:student:/tmp:/usr/sbin/nologin\n"
        )
        (paths.runtime.parent / "group").write_text(f"root:x:0:\nstudent:x:{self.uid}:\n")
        self._cgroups = cgroups.make_groups(f"slot{self.slot}-{os.getpid()}-{self._serial}",
                                            self.limits.memory_bytes, self.limits.max_processes)

    def hand_over(self, root: Path) -> None:
        """Make a folder and everything in it the sandbox uid's (files copied in after `prepare`
        too: a spare kernel is started before its submission's files arrive)."""
        os.chown(root, self.uid, self.uid)
        for dirpath, dirnames, filenames in os.walk(root):
            for name in dirnames + filenames:
                os.chown(os.path.join(dirpath, name), self.uid, self.uid, follow_symlinks=False)

    @property
    def cgroups(self) -> list[Path]:
        """The fresh groups prepare() made for this submission (what a sandboxed process joins)."""
        return list(self._cgroups)

    @property
    def memory_capped(self) -> bool:
        """Whether prepare() made a memory cgroup (else only RLIMIT_AS bounds memory)."""
        return cgroups.memory_capped(self._cgroups)

    def memory_limit_hit(self) -> bool:
        """True when the cgroup memory cap was reached (the kernel was OOM-killed)."""
        return cgroups.memory_limit_hit(self._cgroups)

    def process_limit_hit(self) -> bool:
        """True when the pids cgroup refused a fork (RLIMIT_NPROC's refusals leave no trace)."""
        return cgroups.pids_limit_hit(self._cgroups)

    def cleanup(self) -> None:
        for group in self._cgroups:
            cgroups.remove(group)
        self._cgroups = []

    # -- the command -------------------------------------------------------------------
    def wrap(self, argv: list[str], paths: SandboxPaths, env: dict[str, str]) -> list[str]:
        """The full command line: cgroup join -> prlimit -> bwrap -> setpriv -> argv."""
        bwrap = bwrap_path()
        if bwrap is None:
            raise SandboxUnavailable("bubblewrap (bwrap) is not installed: apt-get install -y bubblewrap")
        limits = self.limits
        command = [
            bwrap,
            # No user namespace: the uid switch below must be a real host uid, so that
            # RLIMIT_NPROC counts per sandbox and files it writes belong to it.
            "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
            "--die-with-parent",
            "--new-session",
            "--ro-bind", "/usr", "/usr",
            "--symlink", "usr/bin", "/bin",
            "--symlink", "usr/sbin", "/sbin",
            "--symlink", "usr/lib", "/lib",
            "--symlink", "usr/lib64", "/lib64",
            "--proc", "/proc",
            "--dev", "/dev",
            # A private /tmp the sandbox uid can write (tempfile, matplotlib's cache), as a host's /tmp is;
            # its pages count against the memory cgroup.
            "--perms", "1777", "--tmpfs", "/tmp",
            "--perms", "0755", "--dir", "/etc",
        ]
        for etc in ETC_FILES:
            if Path("/etc", etc).exists():
                command += ["--ro-bind", f"/etc/{etc}", f"/etc/{etc}"]
        command += ["--ro-bind", str(paths.runtime.parent / "passwd"), "/etc/passwd"]
        command += ["--ro-bind", str(paths.runtime.parent / "group"), "/etc/group"]
        for python_path in self.interpreter.prefixes:
            command += _parents(python_path) + ["--ro-bind", str(python_path), str(python_path)]
        for writable in (paths.workdir, paths.runtime):
            command += _parents(writable) + ["--bind", str(writable), str(writable)]
        command += ["--chdir", str(paths.workdir), "--clearenv"]
        for key, value in sorted(env.items()):
            command += ["--setenv", key, value]
        command += [
            "--",
            "setpriv",
            f"--reuid={self.uid}",
            f"--regid={self.uid}",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
            "--no-new-privs",
            "--",
            *argv,
        ]
        prlimit = [
            "prlimit",
            *([f"--as={limits.address_space_bytes}"] if limits.address_space_bytes else []),
            f"--nproc={limits.max_processes}",
            f"--fsize={limits.max_file_bytes}",
            f"--cpu={limits.cpu_seconds}",
            "--core=0",
            "--",
        ]
        joins = " ".join(f"echo $$ > {g / 'cgroup.procs'};" for g in self._cgroups)
        return ["/bin/sh", "-c", f'{joins} exec "$@"', "sandbox", *prlimit, *command]

    def environment(self, home: Path) -> dict[str, str]:
        threads = str(self.limits.torch_threads)
        return {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "HOME": str(home),
            "LANG": "C.UTF-8",
            "TMPDIR": "/tmp",
            "IPYTHONDIR": "/tmp/.ipython",
            "MPLCONFIGDIR": "/tmp/.matplotlib",
            "MPLBACKEND": "Agg",
            "OMP_NUM_THREADS": threads,
            "MKL_NUM_THREADS": threads,
            "TORCH_NUM_THREADS": threads,
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "HF_HOME": "/tmp/.hf",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYDEVD_DISABLE_FILE_VALIDATION": "1",
        }


# -- slots and the lifecycle of sandboxes -------------------------------------------------


def claim_slot(first: int = 0) -> tuple[int, int]:
    """Take the lowest free sandbox slot on this machine; returns (slot, lock fd).

    A slot is held by an flock on its file for as long as the fd stays open (the whole
    life of a worker), and is freed by the kernel when the process dies, even by SIGKILL.
    So every grader on the machine (two runs side by side, a pool and Dask workers)
    gets distinct slots, hence distinct uids: RLIMIT_NPROC counts per uid machine-wide.
    """
    SLOT_LOCKS.mkdir(mode=0o700, exist_ok=True)
    for slot in range(first, MAX_SLOTS):
        fd = os.open(SLOT_LOCKS / f"slot{slot}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        return slot, fd
    raise SandboxUnavailable(f"all {MAX_SLOTS} sandbox slots on this machine are taken; run fewer jobs")


def die_with_parent() -> None:
    """Have the kernel SIGKILL this process when its parent dies (Linux PR_SET_PDEATHSIG).

    Called first thing in every grading worker: if the coordinator is killed (SIGKILL,
    the OOM killer), the workers die too, and with them their sandboxes (bwrap runs
    with --die-with-parent, and the sandbox's pid namespace dies with its init).
    """
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(1, int(signal.SIGKILL), 0, 0, 0) != 0:  # 1 = PR_SET_PDEATHSIG
        return
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(1)


def remove_stale_cgroups() -> int:
    """Remove the cgroups of grading workers that no longer exist (see grader/sandbox/cgroups.py)."""
    return cgroups.remove_stale(process_alive)


def process_alive(pid: int) -> bool:
    """Whether a process is running; a zombie (dead, not yet reaped: in a container whose
    init does not reap, the killed workers stay zombies) counts as dead."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _parents(path: Path) -> list[str]:
    """bwrap creates missing parents mode 0700, unreadable by the sandbox uid: make them 0755."""
    args: list[str] = []
    for parent in reversed(path.parents):
        if str(parent) in ("/", "/usr", "/tmp"):
            continue
        args += ["--perms", "0755", "--dir", str(parent)]
    return args


def probe(limits: Limits | None = None) -> None:
    """Start `true` in a sandbox; raise SandboxUnavailable with the reason if it cannot run."""
    if os.geteuid() != 0:
        raise SandboxUnavailable(
            "the sandbox needs root to switch to a dedicated uid; run as root or pass --no-sandbox "
            "(only for your own code)"
        )
    if bwrap_path() is None:
        raise SandboxUnavailable(
            "bubblewrap is not installed, so student code cannot be isolated: "
            "apt-get install -y bubblewrap (or pass --no-sandbox for your own code only)"
        )
    limits = limits or Limits()
    run = run_once([sys.executable, "-c", "print('ok')"], limits)
    if not run.memory_capped:
        logging.getLogger("grade").warning(
            "no memory cgroup could be created under %s (neither cgroup v1 nor a v2 hierarchy with the memory "
            "controller is writable here): each sandbox's memory is bounded only by its %d GiB address-space "
            "limit", cgroups.CGROUP_ROOT, (limits.address_space_bytes or 0) // GiB)
    done = run.done
    if done.returncode != 0 or done.stdout.strip() != "ok":
        raise SandboxUnavailable(
            "bubblewrap is installed but could not start a sandbox "
            f"(exit {done.returncode}: {done.stderr.strip()[:300]}); "
            "user namespaces may be disabled. Pass --no-sandbox only for trusted code."
        )


@dataclass(frozen=True)
class OneShot:
    done: subprocess.CompletedProcess[str]
    memory_capped: bool  # a memory cgroup was made
    memory_limit_hit: bool


def run_once(argv: list[str], limits: Limits, *, slot: int = 999, timeout_s: float = 60) -> OneShot:
    """Run one command in a fresh sandbox, then clean up: the host probe above and
    scripts/check_sandbox_limits.py (which pass their own slots, outside the workers' range)."""
    sandbox = Sandbox(slot=slot, limits=limits)
    with tempfile.TemporaryDirectory(prefix="grade-probe-") as tmp:
        paths = SandboxPaths(workdir=Path(tmp, "work"), runtime=Path(tmp, "run"))
        paths.workdir.mkdir()
        paths.runtime.mkdir()
        sandbox.prepare(paths)
        try:
            command = sandbox.wrap(argv, paths, sandbox.environment(paths.workdir))
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
            return OneShot(done, sandbox.memory_capped, sandbox.memory_limit_hit())
        finally:
            sandbox.cleanup()
