"""Run a student's notebook in a kernel inside the sandbox, with nbclient.

One kernel per submission: it runs the notebook once, then stays up to serve the
bridge calls of every check, and is killed afterwards (with everything it spawned).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from typing import Any

import nbformat
import zmq
import zmq.asyncio
from jupyter_client import KernelManager
from jupyter_client.asynchronous import AsyncKernelClient
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError

from grader.kernel.bridge import Bridge
from grader.kernel.figures import FigureCollector
from grader.kernel.ready import wait_until_ready
from grader.kernel.tamper import output_signals
from grader.kernel.template import INLINE_BACKEND, TemplateError, kernel_spec, template_for
from grader.models import CellError, Execution, Signal, SignalKind, Status
from grader.sandbox.bwrap import Limits, Sandbox, SandboxPaths

KERNEL_START_TIMEOUT_S = 60.0
MAX_MESSAGE_BYTES = 80 * 1024 * 1024  # above the bridge's payload bound
RECONNECT_MS = 5  # zmq's retry of a connect the kernel's socket was not bound for yet (default 100)


class OutputLimitExceeded(Exception):
    pass


class SandboxedKernelManager(KernelManager):
    """A KernelManager whose kernel command goes through the sandbox wrapper."""

    sandbox: Sandbox | None = None
    sandbox_paths: SandboxPaths | None = None
    warm: bool = False  # fork the kernel from this worker's template (grader/kernel/template.py)
    template_imports: tuple[str, ...] | None = None  # what that template imports ahead (None: the default)

    async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
        # bwrap --new-session puts the kernel outside the process group that a SIGINT from
        # here reaches, so an interrupt (cell timeout, bridge call timeout) is sent as an
        # interrupt_request on the control channel instead: the kernel signals itself.
        assert self.kernel_spec is not None
        self.kernel_spec.interrupt_mode = "message"
        # Sandboxed, the kernel runs the sandbox's interpreter (the course's kernel environment
        # when grading); unsandboxed (`grade check`, --no-sandbox), this process's own.
        python = self.sandbox.interpreter.executable if self.sandbox is not None else sys.executable
        argv = [str(python), "-m", "ipykernel_launcher", "-f", self.connection_file]
        if self.sandbox is not None and self.sandbox_paths is not None:
            os.chown(self.connection_file, self.sandbox.uid, self.sandbox.uid)
            env = self.sandbox.environment(self.sandbox_paths.workdir)
            # Matplotlib's inline backend: headless like Agg (plt.show() never opens a window), and a
            # figure becomes an image/png display output, the figures the student's page shows.
            env["MPLBACKEND"] = INLINE_BACKEND
            template = (template_for(self.sandbox.interpreter, self.sandbox.limits, kernel_spec(self.template_imports))
                        if self.warm else None)
            process = None
            if template is not None:
                try:
                    process = template.start(self.sandbox, self.sandbox_paths, env, self.connection_file, kw["stdout"])
                except TemplateError as error:  # the same sandbox, started the slow way
                    logging.getLogger("grade").warning("%s; starting this kernel cold, through bwrap", error)
            if process is not None:
                assert self.provisioner is not None
                # The provisioner drives the sandbox's pid 1 as it would a Popen; no process group
                # to signal (the kernel runs in its own session inside the pid namespace).
                self.provisioner.process = process  # type: ignore[attr-defined]
                self.provisioner.pid = process.pid  # type: ignore[attr-defined]
                self.provisioner.pgid = None  # type: ignore[attr-defined]
                self.provisioner.cwd = str(self.sandbox_paths.workdir)  # type: ignore[attr-defined]
                self._reconcile_connection_info(self.provisioner.connection_info)
                return
            argv = self.sandbox.wrap(argv, self.sandbox_paths, env)
            kw["env"] = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        await super()._async_launch_kernel(argv, **kw)

    async def _async_wait(self, pollinterval: float = 0.1) -> None:
        """jupyter_client polls a killed kernel every 0.1 s; a sandbox's pid 1 takes its namespace down
        in milliseconds, so each shutdown waited a tenth of a second for nothing."""
        await super()._async_wait(pollinterval=min(pollinterval, 0.005))


class LimitedNotebookClient(NotebookClient):
    """nbclient with a cap on captured output: an excerpt is kept, a flood stops the kernel."""

    def __init__(self, *args: Any, limits: Limits, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits = limits
        self.output_bytes = 0
        self.excerpt: list[str] = []
        self.excerpt_bytes = 0
        self.flooded = False
        self.figures = FigureCollector()
        code_cells = [index for index, cell in enumerate(self.nb.cells) if cell.cell_type == "code"]
        self.code_numbers = {index: number for number, index in enumerate(code_cells, start=1)}

    def output(self, outs, msg, display_id, cell_index):  # type: ignore[no-untyped-def]
        content = msg.get("content", {})
        text = content.get("text") or ""
        if not text and "data" in content:
            text = str(content["data"].get("text/plain", ""))
            size = sum(len(str(v)) for v in content["data"].values())
        else:
            size = len(text)
        self.output_bytes += size
        if self.excerpt_bytes < self.limits.kept_output_bytes and text:
            piece = text[: self.limits.kept_output_bytes - self.excerpt_bytes]
            self.excerpt.append(piece)
            self.excerpt_bytes += len(piece)
        if self.output_bytes > self.limits.max_output_bytes:
            self.flooded = True
            raise OutputLimitExceeded()
        if msg.get("msg_type") in ("display_data", "execute_result"):
            self.figures.offer(self.code_numbers.get(cell_index, 0), content.get("data"))
        if self.output_bytes > self.limits.kept_output_bytes * 4:
            return None  # counted, not kept: the notebook in memory stays small
        return super().output(outs, msg, display_id, cell_index)


class KernelSession:
    """A started kernel for one submission: run the notebook, then serve bridge calls."""

    def __init__(self, paths: SandboxPaths, limits: Limits, sandbox: Sandbox | None, *, warm: bool = False,
                 template_imports: tuple[str, ...] | None = None) -> None:
        """`warm`: fork the sandboxed kernel from a template (grader/kernel/template.py), else start it
        cold through bwrap; either way the same sandbox. Ignored without a sandbox. `template_imports`:
        what the template imports ahead (GradingOptions.kernel_imports)."""
        self.paths = paths
        self.warm = warm
        self.template_imports = template_imports
        self.limits = limits
        self.sandbox = sandbox
        self.km: SandboxedKernelManager | None = None
        self.kc: Any = None
        self._bridge: Bridge | None = None
        self._kernel_log: Any = None
        self.deadline = time.monotonic() + limits.submission_timeout_s

    def __enter__(self) -> "KernelSession":
        if self.sandbox is not None:
            self.sandbox.prepare(self.paths)
        km = SandboxedKernelManager(kernel_name="python3", transport="ipc")
        km.ip = str(self.paths.runtime / "k")
        km.connection_file = str(self.paths.runtime / "kernel.json")
        km.sandbox = self.sandbox
        km.sandbox_paths = self.paths
        km.warm = self.warm
        km.template_imports = self.template_imports
        # Every socket of ours refuses a single message above the payload bound.
        km.context = zmq.Context()
        km.context.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)
        # Our sockets connect as the kernel starts, often before it has bound its own: zmq then retries
        # after RECONNECT_IVL, 100 ms by default, and IOPub misses what the kernel says meanwhile.
        km.context.setsockopt(zmq.RECONNECT_IVL, RECONNECT_MS)
        self.km = km
        try:
            env = {"PATH": os.environ.get("PATH", "")} if self.sandbox else _unsandboxed_env(self.limits)
            self._kernel_log = open(self.paths.runtime.parent / "kernel.log", "wb")
            km.start_kernel(cwd=str(self.paths.workdir), env=env, stdout=self._kernel_log,
                            stderr=self._kernel_log, stdin=subprocess.DEVNULL)
            self.kc = km.client()
            self.kc.start_channels()
            wait_until_ready(self.kc, KERNEL_START_TIMEOUT_S)
            # The student's clock starts with their kernel: a worker's first warm start also starts
            # its template (seconds of imports), which is the grader's time, not the notebook's.
            self.deadline = time.monotonic() + self.limits.submission_timeout_s
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self.kc is not None:
            self.kc.stop_channels()
        if self.km is not None:
            try:
                if self.km.has_kernel:
                    self.km.shutdown_kernel(now=True)
            except Exception:  # noqa: BLE001 - a dead kernel cannot be shut down twice
                pass
            self.km.cleanup_resources()
            self.km.context.destroy(linger=0)
        if self.sandbox is not None:
            self.sandbox.cleanup()
        if self._kernel_log is not None:
            self._kernel_log.close()

    @property
    def alive(self) -> bool:
        return self.km is not None and self.km.is_alive()

    def remaining_s(self) -> float:
        return self.deadline - time.monotonic()

    # -- the notebook -----------------------------------------------------------------
    def run_notebook(self, nb: nbformat.NotebookNode) -> Execution:
        """Execute every code cell in order; errors in a cell do not stop the later cells."""
        client = LimitedNotebookClient(
            nb, km=self.km, limits=self.limits, allow_errors=True, timeout=int(self.limits.cell_timeout_s),
            record_timing=False, iopub_timeout=10, shutdown_kernel="immediate",
        )
        return asyncio.run(self._run_with_async_client(nb, client))

    async def _run_with_async_client(self, nb: nbformat.NotebookNode, client: "LimitedNotebookClient") -> Execution:
        """nbclient needs an asynchronous client, made inside the loop that runs it: with a
        blocking one its output polling blocks the loop and a silent endless loop never
        reaches the cell timeout."""
        async_context = zmq.asyncio.Context()
        async_context.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)
        async_context.setsockopt(zmq.RECONNECT_IVL, RECONNECT_MS)
        async_client = AsyncKernelClient(context=async_context)
        async_client.load_connection_info(self.km.get_connection_info())
        async_client.session.key = self.km.session.key
        async_client.start_channels()
        client.kc = async_client
        try:
            return await self._run_cells(nb, client)
        finally:
            async_client.stop_channels()
            async_context.destroy(linger=0)

    async def _run_cells(self, nb: nbformat.NotebookNode, client: "LimitedNotebookClient") -> Execution:
        started = time.monotonic()
        cell_errors: list[CellError] = []
        status, message = Status.GRADED, ""
        died = False  # the kernel died or exited under the notebook (not stopped by us)
        code_number = 0
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            code_number += 1
            remaining = self.remaining_s()
            if remaining <= 1:
                status, message = Status.TIMEOUT, self._timeout_message(code_number, whole=True)
                break
            client.timeout = int(max(1, min(self.limits.cell_timeout_s, remaining)))
            try:
                await client.async_execute_cell(cell, index)
            except CellTimeoutError:
                whole = remaining < self.limits.cell_timeout_s
                status, message = Status.TIMEOUT, self._timeout_message(code_number, whole=whole)
                self._kill()
                break
            except OutputLimitExceeded:
                status, message = Status.ERROR, self._flood_message(code_number)
                self._kill()
                break
            except DeadKernelError:
                status, died = Status.ERROR, not client.flooded
                message = self._death_message(code_number) if died else self._flood_message(code_number)
                break
            except Exception as error:  # noqa: BLE001 - nbclient can fail in many ways on hostile kernels
                if client.flooded:
                    status, message = Status.ERROR, self._flood_message(code_number)
                elif not self.alive:
                    status, message, died = Status.ERROR, self._death_message(code_number), True
                else:
                    status, message = Status.ERROR, f"cell {code_number} could not be run: {error}"[:500]
                self._kill()
                break
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    cell_errors.append(
                        CellError(cell=code_number, ename=str(output.get("ename", ""))[:200],
                                  evalue=str(output.get("evalue", ""))[:1000])
                    )
        if status is Status.GRADED and cell_errors:
            first = cell_errors[0]
            message = f"cell {first.cell} raised {first.ename}: {first.evalue}"[:500]
        output = "".join(client.excerpt)
        killed = (Signal(SignalKind.KILLED, message),) if died else ()
        return Execution(
            status=status,
            message=message,
            cell_errors=tuple(cell_errors),
            output_excerpt=output,
            duration_s=time.monotonic() - started,
            sandboxed=self.sandbox is not None,
            signals=killed + output_signals(cell_errors, output),
            figures=tuple(client.figures.figures),
        )

    def _flood_message(self, cell: int) -> str:
        return (f"cell {cell} printed more than {self.limits.max_output_bytes // (1024 * 1024)} MiB of output; "
                "print less (e.g. shapes instead of whole tensors)")

    def _timeout_message(self, cell: int, *, whole: bool) -> str:
        if whole:
            return (f"the notebook ran past its {self.limits.submission_timeout_s:g} s limit at cell {cell}; "
                    "look for an endless loop or a training run that is too long")
        return (f"cell {cell} ran longer than {self.limits.cell_timeout_s:g} s; "
                "look for an endless loop or a training run that is too long")

    def _death_message(self, cell: int) -> str:
        code = self._exit_code()
        if self.sandbox is not None and self.sandbox.memory_limit_hit():
            return (f"the kernel was killed while running cell {cell}: it used more than the "
                    f"{self.limits.memory_bytes // (1024 ** 3)} GiB memory limit; use smaller tensors or batches")
        # Declared dead by its heartbeat, yet still running: most often processes started in a
        # loop starve it of the CPU (a fork refused by RLIMIT_NPROC, not the cgroup, leaves no trace: "?").
        running = code is None and self.alive
        limit = self.limits.max_processes
        if self.sandbox is not None and self.sandbox.process_limit_hit():
            return (f"the kernel {'stopped responding' if running else 'died'} while running cell {cell} "
                    f"(it reached the limit of {limit} processes); do not start processes in a loop")
        if running:
            return (f"the kernel stopped responding while running cell {cell} (too many processes? the limit "
                    f"is {limit}); do not start processes in a loop")
        # A signal shows as a negative code, or as 128 + signal when bwrap passes it on.
        signum = -code if code is not None and code < 0 else code - 128 if code is not None and code > 128 else None
        if signum is not None:
            name = signal.Signals(signum).name if signum in signal.Signals._value2member_map_ else str(signum)
            hint = {"SIGSEGV": "a segmentation fault (SIGSEGV; e.g. ctypes or a native extension misused)",
                    "SIGKILL": "killed (SIGKILL), most likely for using too much memory or too many processes",
                    }.get(name, f"signal {name}")
            return f"the kernel died while running cell {cell}: {hint}"
        detail = f" with exit code {code}" if code is not None else ""
        return (f"the kernel exited{detail} while running cell {cell}; "
                "do not call os._exit, sys.exit or kill the kernel from the notebook")

    def _exit_code(self) -> int | None:
        """The kernel process's exit status; None when it is still running after 2 s, or unknown."""
        provisioner = getattr(self.km, "provisioner", None)
        process = getattr(provisioner, "process", None)
        if process is None:
            return None
        try:
            process.wait(timeout=2)
        except Exception:  # noqa: BLE001
            return None
        return process.returncode

    def _kill(self) -> None:
        if self.km is not None and self.km.has_kernel:
            try:
                self.km.shutdown_kernel(now=True)
            except Exception:  # noqa: BLE001
                pass

    # -- the bridge -------------------------------------------------------------------
    @property
    def bridge(self) -> Bridge:
        if self._bridge is None:
            self._bridge = Bridge(self.kc, self.km, call_timeout_s=self.limits.call_timeout_s,
                                  is_alive=lambda: self.alive, kill=self._kill)
        return self._bridge


def _unsandboxed_env(limits: Limits) -> dict[str, str]:
    env = dict(os.environ)
    threads = str(limits.torch_threads)
    env.update(OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               MPLBACKEND="Agg", PYDEVD_DISABLE_FILE_VALIDATION="1")
    return env
