"""Seconds to start a sandboxed kernel (until it answers) and then `import torch` in it, in grade's
own environment (how kernels ran before course.yaml `packages:`) and in the course's (now), started
cold through bwrap and warm, forked from a template (grader/kernel/template.py, `--kernel-start warm`).

Run as root with bubblewrap, after `grade env build`: .venv/bin/python benchmarks/kernel_start.py [N]
Prints the median and the range of N starts of each, alternating so that load hits all alike,
and the cold/warm ratio. The template's own start (once per worker) is paid before the timed starts.
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import time
from pathlib import Path

from grader.course.config import load_course_config
from grader.course.environment import kernel_interpreter
from grader.kernel.execute import KernelSession
from grader.kernel.spare import _warm_up, new_scratch
from grader.sandbox.bwrap import Limits, Sandbox, claim_slot
from grader.sandbox.interpreter import Interpreter

REPO = Path(__file__).resolve().parent.parent


def one_start(interpreter: Interpreter | None, warm: bool = False) -> tuple[float, float]:
    slot, lock = claim_slot()
    scratch, paths = new_scratch()
    limits = Limits()
    try:
        started = time.monotonic()
        with KernelSession(paths, limits, Sandbox(slot, limits, interpreter), warm=warm) as session:
            ready = time.monotonic()
            _warm_up(session)  # import torch, as every notebook of the course does first
            imported = time.monotonic()
        return ready - started, imported - started
    finally:
        os.close(lock)
        shutil.rmtree(scratch, ignore_errors=True)


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    course = kernel_interpreter(load_course_config(REPO))
    kinds = {"grade's own environment": (None, False), "the course's environment": (course, False),
             "course's, warm (forked)": (course, True)}
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in kinds}
    one_start(None)  # the first start of all pays for cold caches
    one_start(course, warm=True)  # and the template's start, once per worker
    for _ in range(runs):
        for name, (interpreter, warm) in kinds.items():
            times[name].append(one_start(interpreter, warm))
    print(f"sandboxed kernel, {runs} starts each (median, min-max)")
    for name, pairs in times.items():
        ready = [r for r, _ in pairs]
        torch = [t for _, t in pairs]
        print(f"{name:26s} ready {statistics.median(ready):5.2f} s ({min(ready):.2f}-{max(ready):.2f})"
              f"   + import torch {statistics.median(torch):5.2f} s ({min(torch):.2f}-{max(torch):.2f})")
    cold = statistics.median(t for _, t in times["the course's environment"])
    warm = statistics.median(t for _, t in times["course's, warm (forked)"])
    print(f"cold / warm, start + import torch: {cold / warm:.1f}x")


if __name__ == "__main__":
    main()
