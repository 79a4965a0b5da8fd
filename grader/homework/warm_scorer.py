"""The homework's scorer started warm: infer.py run by a child of a template that imported transformers.

A cold start (grader/homework/score.py) is bwrap, then `python -I infer.py`: the process start and
`import torch, transformers` are most of it (8.1 of 12 s for one model on a GPU host). Here a
template per worker and Python (grader/kernel/template.py with the agent's "scorer" warm-up) has
imported them once, without touching CUDA; each model gets a child forked from it that makes the
cold start's sandbox itself (the submission's cgroups, the limits, namespaces, the root with the
scorer's extra mounts, the slot's uid, no privileges), then runs infer.py as `python -I` would,
in-process. CUDA is initialised in that child only, after the fork, exactly as in a cold start.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from grader.homework.scorer_sandbox import Mount, gpu_env, quiet_env
from grader.homework.validate import ARCHITECTURES
from grader.kernel.template import KernelTemplate, TemplateSpec, template_for
from grader.sandbox.bwrap import Sandbox, SandboxPaths

STDERR_KEPT_BYTES = 64 * 1024  # what is read back of the child's stderr (a message quotes its end)


@dataclass(frozen=True)
class Finished:
    returncode: int
    stderr: bytes  # its end only


def scorer_spec(threads: int, gpu: bool,
                architectures: tuple[tuple[str, str], ...] = tuple(ARCHITECTURES.items())) -> TemplateSpec:
    """The scorer's template: what infer.py imports (and the rubric's architectures' classes) ahead,
    started as a cold scorer is (`python -I`), with the environment its imports read (offline, threads,
    the GPU's library path: the dynamic loader reads LD_LIBRARY_PATH once, at process start)."""
    env = quiet_env(threads) | (gpu_env() if gpu else {})
    return TemplateSpec(warm=("scorer", tuple(architectures)), env=tuple(sorted(env.items())),
                        flags=("-I",), starts="scorers")


def scorer_template(sandbox: Sandbox, threads: int, gpu: bool,
                    architectures: tuple[tuple[str, str], ...] = tuple(ARCHITECTURES.items())) -> KernelTemplate | None:
    """This worker's scorer template for the sandbox's Python and the rubric's architectures; None: score
    cold (warned once)."""
    return template_for(sandbox.interpreter, sandbox.limits, scorer_spec(threads, gpu, architectures))


def run_warm(template: KernelTemplate, sandbox: Sandbox, paths: SandboxPaths, env: dict[str, str],
             argv: list[str], mounts: list[Mount], timeout_s: float, log: Path) -> Finished:
    """Run `argv` (a script and its arguments) in a forked child, sandboxed as `sandbox`, within timeout_s
    from now. TemplateError: the child could not be started (nothing of the submission ran);
    subprocess.TimeoutExpired: it ran too long and was killed, with every process it started."""
    started = time.monotonic()
    request = template.request(sandbox, paths, env) | {"run": "script", "argv": argv, "extra_mounts": mounts,
                                                       "stdout": "null"}  # a cold start keeps stderr only
    with open(log, "wb") as stderr:
        process = template.fork(request, stderr)
    try:
        code = process.wait(timeout=max(0.0, timeout_s - (time.monotonic() - started)))
    except subprocess.TimeoutExpired:
        process.kill()  # pid 1: its exit takes the whole pid namespace down
        process.wait(timeout=5)
        raise
    with open(log, "rb") as stderr:
        size = stderr.seek(0, 2)
        stderr.seek(max(0, size - STDERR_KEPT_BYTES))
        return Finished(code, stderr.read())
