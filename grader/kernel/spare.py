"""A sandboxed kernel started ahead of its submission, so a pool worker overlaps the next
kernel's start-up (ipykernel, and the `import torch` every notebook of the course does)
with the current submission's notebook and checks, on CPUs the pool would leave idle.

A spare is an ordinary `KernelSession` in its own scratch folder, its own sandbox slot
(a uid distinct from the kernel still running, so neither can eat the other's process
limit) and its own fresh cgroups. Its work folder is empty and bound into the sandbox
from the start; the student's files are copied in, and handed to the sandbox uid, only
when the submission arrives. Nothing of one student ever reaches another's kernel.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from grader.sandbox.bwrap import Limits, Sandbox, SandboxPaths
from grader.sandbox.interpreter import Interpreter

if TYPE_CHECKING:
    from grader.kernel.execute import KernelSession

WARM_UP = "import torch"
WARM_UP_TIMEOUT_S = 60.0
SCRATCH_PREFIX = "grade-"  # + worker pid: the next run removes what a killed worker left


def new_scratch() -> tuple[Path, SandboxPaths]:
    scratch = Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-"))
    paths = SandboxPaths(workdir=scratch / "work", runtime=scratch / "run")
    paths.workdir.mkdir()
    paths.runtime.mkdir()
    return scratch, paths


@dataclass
class SpareKernel:
    slot: int
    scratch: Path
    paths: SandboxPaths
    sandbox: Sandbox | None
    session: KernelSession

    def adopt(self, limits: Limits) -> KernelSession:
        """Hand the (now filled) work folder to the sandbox uid; the submission's clock starts now."""
        if self.sandbox is not None:
            self.sandbox.hand_over(self.paths.workdir)
        self.session.deadline = time.monotonic() + limits.submission_timeout_s
        return self.session

    def close(self) -> None:
        try:
            self.session.__exit__(None, None, None)
        finally:
            shutil.rmtree(self.scratch, ignore_errors=True)


def start_spare(slot: int, limits: Limits, sandboxed: bool, interpreter: Interpreter | None = None,
                warm: bool = False, template_imports: tuple[str, ...] | None = None) -> SpareKernel:
    from grader.kernel.execute import KernelSession

    scratch, paths = new_scratch()
    try:
        sandbox = Sandbox(slot, limits, interpreter) if sandboxed else None
        session = KernelSession(paths, limits, sandbox, warm=warm, template_imports=template_imports).__enter__()
        spare = SpareKernel(slot, scratch, paths, sandbox, session)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    try:
        _warm_up(session)
    except BaseException:
        spare.close()
        raise
    return spare


def _warm_up(session: KernelSession) -> None:
    """Import torch in the kernel, silently: no execution count, no history, no output kept."""
    msg_id = session.kc.execute(WARM_UP, silent=True, store_history=False, allow_stdin=False)
    deadline = time.monotonic() + WARM_UP_TIMEOUT_S
    while True:
        reply = session.kc.get_shell_msg(timeout=max(0.1, deadline - time.monotonic()))
        if reply.get("parent_header", {}).get("msg_id") == msg_id:
            if reply.get("content", {}).get("status") != "ok":
                raise RuntimeError(f"the spare kernel could not run {WARM_UP!r}")
            return


class SpareKernels:
    """One spare at a time per worker; two slots alternate between the running kernel and the spare.

    Spares start on one long-lived thread: bwrap's --die-with-parent fires when the *thread*
    that started it ends (PR_SET_PDEATHSIG is per thread), so a short-lived thread would
    take its kernel down with it.
    """

    def __init__(self, slots: tuple[int, int]) -> None:
        self.slots = slots
        self._starter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="spare-kernel")
        self._pending: Future[SpareKernel | None] | None = None
        self._starting_slot: int | None = None

    def take(self) -> SpareKernel | None:
        """The spare, once started; None if none was asked for or its start failed."""
        pending, self._pending, self._starting_slot = self._pending, None, None
        return None if pending is None else pending.result()

    def free_slot(self) -> int:
        """A slot no spare is using."""
        return self.slots[1] if self._starting_slot == self.slots[0] else self.slots[0]

    def start(self, busy_slot: int, limits: Limits, sandboxed: bool, interpreter: Interpreter | None = None,
              warm: bool = False, template_imports: tuple[str, ...] | None = None) -> None:
        slot = self.slots[1] if busy_slot == self.slots[0] else self.slots[0]
        self._starting_slot = slot

        def run() -> SpareKernel | None:
            try:
                return start_spare(slot, limits, sandboxed, interpreter, warm, template_imports)
            except Exception:  # noqa: BLE001 - the submission then starts its own kernel, as without a spare
                return None

        self._pending = self._starter.submit(run)

    def close(self) -> None:
        spare = self.take()
        if spare is not None:
            spare.close()
        self._starter.shutdown(wait=False)
