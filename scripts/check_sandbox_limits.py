"""Does this host's sandbox really cap memory and processes? Run it once on a new grading host.

    sudo .venv/bin/python scripts/check_sandbox_limits.py

Starts three sandboxes as `grade` does (bubblewrap, a sandbox uid, rlimits, a fresh cgroup):
a memory bomb under a 512 MiB cgroup cap (its address space limited to 2 GiB only as a
safety net for hosts without the cgroup: the cap must stop it first), a thread bomb under a process cap of 64, and reports which cgroup hierarchy was used
(v1 or v2) and whether any group was left behind. Exits 1 when a cap did not hold.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from grader.sandbox import CGROUP_ROOT, MiB, Limits, Sandbox, SandboxPaths, unified_cgroups  # noqa: E402

MEMORY_BOMB = "x = []\nwhile True:\n    x.append(bytearray(64 * 2**20)); x[-1][::4096] = b'1' * (len(x[-1]) // 4096)"
THREAD_BOMB = ("import threading, time\nn = 0\ntry:\n    while True:\n"
               "        threading.Thread(target=time.sleep, args=(30,), daemon=True).start(); n += 1\n"
               "except Exception:\n    print(n)")


def run_sandboxed(code: str, limits: Limits) -> tuple[subprocess.CompletedProcess[str], bool]:
    """(the finished process, whether the cgroup memory cap was hit)."""
    with tempfile.TemporaryDirectory(prefix="grade-limits-") as tmp:
        paths = SandboxPaths(workdir=Path(tmp, "work"), runtime=Path(tmp, "run"))
        paths.workdir.mkdir()
        paths.runtime.mkdir()
        sandbox = Sandbox(slot=998, limits=limits)
        sandbox.prepare(paths)
        try:
            command = sandbox.wrap([sys.executable, "-I", "-c", code], paths, sandbox.environment(paths.workdir))
            done = subprocess.run(command, capture_output=True, text=True, timeout=120)
            return done, sandbox.memory_limit_hit()
        finally:
            sandbox.cleanup()


def main() -> int:
    print(f"cgroup hierarchy: {'v2 (unified)' if unified_cgroups() else 'v1'} at {CGROUP_ROOT}")
    ok = True
    done, capped = run_sandboxed(MEMORY_BOMB, Limits(memory_bytes=512 * MiB, address_space_bytes=2048 * MiB))
    print(f"memory bomb under a 512 MiB cgroup cap: exit {done.returncode}, "
          f"{'stopped by the cap' if capped else 'NOT stopped by a cgroup'}")
    ok &= capped and done.returncode != 0
    done, _ = run_sandboxed(THREAD_BOMB, Limits(max_processes=64))
    started = int(done.stdout.strip()) if done.stdout.strip().isdigit() else None
    print(f"thread bomb under a cap of 64 processes: {started} threads started before the refusal")
    ok &= started is not None and started <= 64
    parents = [CGROUP_ROOT / "grade", CGROUP_ROOT / "memory" / "grade", CGROUP_ROOT / "pids" / "grade"]
    left = [p for parent in parents if parent.is_dir() for p in parent.iterdir()
            if p.is_dir() and p.name.startswith("slot998-")]
    print(f"groups left behind: {len(left)}")
    ok &= not left
    print("the caps hold" if ok else "a cap did NOT hold: see above (docs/cluster.md, 'What a worker host needs')")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
