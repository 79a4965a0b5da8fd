"""The resource limits of one sandboxed submission: plain numbers, enforced by grader/sandbox/bwrap.py."""

from __future__ import annotations

from dataclasses import dataclass

GiB = 1024**3
MiB = 1024**2


@dataclass(frozen=True)
class Limits:
    """Resource limits for one submission; every one of them is enforced, none is advisory."""

    cell_timeout_s: float = 60.0
    submission_timeout_s: float = 300.0
    call_timeout_s: float = 30.0
    memory_bytes: int = 4 * GiB  # cgroup memory cap (resident)
    address_space_bytes: int | None = 16 * GiB  # RLIMIT_AS: generous, torch reserves far more than it touches;
    # None only where a GPU is bound (CUDA reserves more address space than any sensible cap)
    max_processes: int = 256  # RLIMIT_NPROC counts threads too
    max_file_bytes: int = 256 * MiB
    max_output_bytes: int = 16 * MiB  # beyond this the kernel is stopped
    kept_output_bytes: int = 64 * 1024  # excerpt kept for the report
    cpu_seconds: int = 3600
    torch_threads: int = 1
