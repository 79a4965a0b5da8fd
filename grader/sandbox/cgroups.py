"""Per-submission cgroups: a memory cap and a process cap over everything a sandbox starts.

cgroup v2 (the default of current distributions): one group under /sys/fs/cgroup/grade/
with memory.max, swap off and pids.max, grade enabling the two controllers for its sub-tree.
cgroup v1: one group in each of the memory and pids hierarchies. A group is fresh per
submission (memory charged by the previous one must not count against the next) and is
named `slot<N>-<worker pid>-<serial>`, so the groups of a killed worker can be found and
removed. Where no group can be made the sandbox still has its rlimits (grader/sandbox/bwrap.py),
and `sandbox.probe` warns.
"""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path
from typing import Callable

CGROUP_ROOT = Path("/sys/fs/cgroup")
_GROUP_NAME = re.compile(r"slot\d+-(\d+)(?:-[0-9a-f]+)?")
_CONTROLLERS = ("memory", "pids")


def unified() -> bool:
    """cgroup v2: one hierarchy, controllers enabled per sub-tree."""
    return (CGROUP_ROOT / "cgroup.controllers").exists()


def grade_parents() -> list[Path]:
    """The folders that hold grade's groups on this host."""
    if unified():
        return [CGROUP_ROOT / "grade"]
    return [CGROUP_ROOT / controller / "grade" for controller in _CONTROLLERS]


def make_groups(name: str, memory_bytes: int, max_processes: int) -> list[Path]:
    """The groups a sandbox process joins (empty where none is writable)."""
    if unified():
        try:
            return [_make(_unified_parent() / name, {"memory.max": memory_bytes, "pids.max": max_processes},
                          optional={"memory.swap.max": 0})]
        except OSError:
            return []
    made = []
    for parent, limits in zip(grade_parents(), ({"memory.limit_in_bytes": memory_bytes},
                                                {"pids.max": max_processes})):
        try:
            made.append(_make(parent / name, limits))
        except OSError:
            continue
    return made


def memory_capped(groups: list[Path]) -> bool:
    """Whether one of the groups caps memory (else only RLIMIT_AS bounds it)."""
    return any((g / "memory.max").exists() or (g / "memory.limit_in_bytes").exists() for g in groups)


def memory_limit_hit(groups: list[Path]) -> bool:
    """True when the memory cap was reached (v2: a process was OOM-killed; v1: the cap was hit)."""
    for group in groups:
        try:
            if (group / "memory.events").exists():
                events = dict(line.split() for line in (group / "memory.events").read_text().splitlines())
                return int(events.get("oom_kill", 0)) > 0
            if (group / "memory.failcnt").exists():
                return int((group / "memory.failcnt").read_text().strip() or 0) > 0
        except (OSError, ValueError):
            return False
    return False


def pids_limit_hit(groups: list[Path]) -> bool:
    """True when a fork was refused for the process cap (pids.events "max", the same file in v2 and v1)."""
    for group in groups:
        try:
            if (group / "pids.events").exists():
                events = dict(line.split() for line in (group / "pids.events").read_text().splitlines())
                return int(events.get("max", 0)) > 0
        except (OSError, ValueError):
            return False
    return False


def remove(group: Path) -> bool:
    """Kill what is left in a group and remove it; False if it would not go."""
    try:
        for pid in (group / "cgroup.procs").read_text().split():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
    except OSError:
        pass
    for _ in range(50):  # killed processes leave the group only once reaped
        try:
            group.rmdir()
            return True
        except FileNotFoundError:
            return False
        except OSError:
            time.sleep(0.05)
    return False


def remove_stale(worker_alive: Callable[[int], bool]) -> int:
    """Remove the groups of grading workers that no longer exist (a worker killed with
    SIGKILL cannot remove its own); groups of live workers are left alone. Returns how many."""
    removed = 0
    for parent in grade_parents():
        try:
            groups = [g for g in parent.iterdir() if g.is_dir()]
        except OSError:
            continue
        for group in groups:
            match = _GROUP_NAME.fullmatch(group.name)
            if match is not None and not worker_alive(int(match.group(1))):
                removed += remove(group)
    return removed


def _unified_parent() -> Path:
    """/sys/fs/cgroup/grade with the memory and pids controllers handed down to its children.
    Raises OSError where they cannot be (e.g. a container whose cgroup is not delegated)."""
    parent = CGROUP_ROOT / "grade"
    parent.mkdir(exist_ok=True)
    for level in (CGROUP_ROOT, parent):
        enabled = (level / "cgroup.subtree_control").read_text().split()
        missing = [c for c in _CONTROLLERS if c not in enabled]
        if missing:
            (level / "cgroup.subtree_control").write_text(" ".join(f"+{c}" for c in missing))
    return parent


def _make(group: Path, limits: dict[str, int], optional: dict[str, int] | None = None) -> Path:
    """Create one group and write its limits (an optional knob this kernel lacks is skipped);
    a group whose limits could not be set is removed again, never left half made."""
    group.mkdir(parents=True, exist_ok=True)
    try:
        for key, value in limits.items():
            (group / key).write_text(str(value))
        for key, value in (optional or {}).items():
            if (group / key).exists():
                (group / key).write_text(str(value))
    except OSError:
        group.rmdir()
        raise
    return group
