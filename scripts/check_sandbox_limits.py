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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from grader.sandbox import cgroups  # noqa: E402
from grader.sandbox.bwrap import run_once  # noqa: E402
from grader.sandbox.limits import Limits, MiB  # noqa: E402

MEMORY_BOMB = "x = []\nwhile True:\n    x.append(bytearray(64 * 2**20)); x[-1][::4096] = b'1' * (len(x[-1]) // 4096)"
THREAD_BOMB = ("import threading, time\nn = 0\ntry:\n    while True:\n"
               "        threading.Thread(target=time.sleep, args=(30,), daemon=True).start(); n += 1\n"
               "except Exception:\n    print(n)")


def run_sandboxed(code: str, limits: Limits) -> tuple[subprocess.CompletedProcess[str], bool]:
    """(the finished process, whether the cgroup memory cap was hit)."""
    run = run_once([sys.executable, "-I", "-c", code], limits, slot=998, timeout_s=120)
    return run.done, run.memory_limit_hit


def main() -> int:
    print(f"cgroup hierarchy: {'v2 (unified)' if cgroups.unified() else 'v1'} at {cgroups.CGROUP_ROOT}")
    ok = True
    done, capped = run_sandboxed(MEMORY_BOMB, Limits(memory_bytes=512 * MiB, address_space_bytes=2048 * MiB))
    print(f"memory bomb under a 512 MiB cgroup cap: exit {done.returncode}, "
          f"{'stopped by the cap' if capped else 'NOT stopped by a cgroup'}")
    ok &= capped and done.returncode != 0
    done, _ = run_sandboxed(THREAD_BOMB, Limits(max_processes=64))
    started = int(done.stdout.strip()) if done.stdout.strip().isdigit() else None
    print(f"thread bomb under a cap of 64 processes: {started} threads started before the refusal")
    ok &= started is not None and started <= 64
    left = [p for parent in cgroups.grade_parents() if parent.is_dir() for p in parent.iterdir()
            if p.is_dir() and p.name.startswith("slot998-")]
    print(f"groups left behind: {len(left)}")
    ok &= not left
    print("the caps hold" if ok else "a cap did NOT hold: see above (docs/cluster.md, 'What a worker host needs')")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
