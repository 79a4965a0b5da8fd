"""Seconds per notebook for the demo class: plain python vs nbclient (no sandbox) vs `grade`.

Run: .venv/bin/python benchmarks/notebook_overhead.py
Every figure is measured in this run; ratios are against plain `python` running the same code.
`grade` includes what the others do not: the sandbox, the hidden tests through the bridge, and
writing the database.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from grader.course.environment import kernel_interpreter
from grader.kinds import load_course
from grader.discover import discover
from grader.options import GradingOptions
from grader.pipeline.pool import grade_class
from grader.prepare import load_notebook
from grader.store.gradebook import Gradebook

REPO = Path(__file__).resolve().parent.parent
ASSIGNMENT = "05_attention_mechanism"


def main() -> None:
    course = load_course(REPO)
    kernel = kernel_interpreter(course.config)  # the students' environment, as `grade PATH` runs them
    subs = [s for s in discover(REPO / "submissions", course, only={ASSIGNMENT})
            if s.source.suffix == ".ipynb" and "infinite" not in s.student]
    notebooks = [load_notebook(s.source, ASSIGNMENT) for s in subs]
    with tempfile.TemporaryDirectory() as tmp:
        started = time.monotonic()
        for index, nb in enumerate(notebooks):
            script = Path(tmp, f"nb{index}.py")
            script.write_text("\n\n".join(c.source for c in nb.cells if c.cell_type == "code"))
            subprocess.run([sys.executable, str(script)], cwd=tmp, capture_output=True, timeout=120)
        plain = (time.monotonic() - started) / len(notebooks)

        started = time.monotonic()
        for nb in notebooks:
            NotebookClient(nbformat.from_dict(nb), allow_errors=True, timeout=120).execute()
        nbclient = (time.monotonic() - started) / len(notebooks)

        started = time.monotonic()
        with Gradebook(str(Path(tmp, "g.db"))) as store:
            grade_class(subs, course, store, GradingOptions(jobs=1, force=True, kernel=kernel))
        graded = (time.monotonic() - started) / len(notebooks)

        started = time.monotonic()
        with Gradebook(str(Path(tmp, "g.db"))) as store:
            result = grade_class(subs, course, store, GradingOptions(jobs=1, kernel=kernel))
        rerun = time.monotonic() - started

    print(f"notebooks: {len(notebooks)} (demo class, {ASSIGNMENT})")
    print(f"plain python          {plain:6.2f} s/notebook   1.00x")
    print(f"nbclient, no sandbox  {nbclient:6.2f} s/notebook   {nbclient / plain:.2f}x")
    print(f"grade (sandbox+tests) {graded:6.2f} s/notebook   {graded / plain:.2f}x   (jobs=1)")
    print(f"grade re-run, nothing changed: {rerun:.2f} s for {len(notebooks)} ({result.reused} reused)")


if __name__ == "__main__":
    main()
