"""Seconds of a warm sandboxed kernel's three phases: start (fork to ready), one notebook, shutdown.

Run as root with bubblewrap, after `grade env build`:
    PYTHONPATH=. .venv/bin/python benchmarks/kernel_phases.py [--runs 6] [--notebook PATH] [--train]

One slot, one template (its own start, once per worker, is paid first and not counted), `--runs`
kernels one after another, each running the notebook (default: ada_lovelace's notebook 05); prints
each run and the medians without the first. `--train`: a template with torch._dynamo imported ahead,
as a run of assignments that train gets. This is a benchmark, not a test: load moves every figure.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import time
from pathlib import Path

import nbformat

from grader.course.config import load_course_config
from grader.course.environment import kernel_interpreter
from grader.kernel.execute import KernelSession
from grader.kernel.spare import new_scratch
from grader.kernel.template import kernel_spec, template_for
from grader.pipeline.template_imports import DYNAMO
from grader.sandbox.bwrap import Limits, Sandbox, claim_slot

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=6)
    parser.add_argument("--notebook", type=Path,
                        default=REPO / "submissions" / "ada_lovelace" / "05_attention_mechanism.ipynb")
    parser.add_argument("--train", action="store_true", help="a template with torch._dynamo imported ahead")
    args = parser.parse_args()
    python = kernel_interpreter(load_course_config(REPO))
    limits = Limits()
    imports = (DYNAMO,) if args.train else ()
    started = time.monotonic()
    if template_for(python, limits, kernel_spec(imports)) is None:
        raise SystemExit("no warm template here (root and bubblewrap are needed)")
    print(f"template started in {time.monotonic() - started:.2f} s (once per worker; not counted below)")
    notebook = nbformat.read(args.notebook, as_version=4)
    slot, _lock = claim_slot()
    phases: list[tuple[float, float, float]] = []
    for run in range(args.runs):
        scratch, paths = new_scratch()
        try:
            begin = time.monotonic()
            session = KernelSession(paths, limits, Sandbox(slot, limits, python), warm=True,
                                    template_imports=imports).__enter__()
            ready = time.monotonic()
            execution = session.run_notebook(notebook)
            ran = time.monotonic()
            session.__exit__(None, None, None)
            ended = time.monotonic()
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        phases.append((ready - begin, ran - ready, ended - ran))
        print(f"run {run + 1}: start {phases[-1][0]:.3f} s, notebook {phases[-1][1]:.3f} s, "
              f"shutdown {phases[-1][2]:.3f} s ({execution.status.value})")
    counted = phases[1:] or phases
    start, notebook_s, shutdown = (statistics.median(p[i] for p in counted) for i in range(3))
    print(f"median of {len(counted)}: start {start:.3f} s, notebook {notebook_s:.3f} s, shutdown {shutdown:.3f} s")


if __name__ == "__main__":
    main()
