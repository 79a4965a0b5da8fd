"""Scale: classes of 20 and 40 students built from the demo submissions, graded in one run.

Run: .venv/bin/python benchmarks/scale.py   (root, bubblewrap; about 4 minutes on 2 idle cores)

Reports, every figure measured in this run:
- `--jobs 1` vs `--jobs 2` on the class of 20 (target: >= 1.7x on 2 cores); `--jobs 1` with
  spare kernels (its default when CPUs are left idle) and without;
- seconds per notebook, `grade --jobs 1` against plain `python` running the same code
  (the notebook's code cells as one script; target <= 1.3x); `grade` also runs the hidden
  tests through the bridge, in the sandbox, and writes the database; and `grade --jobs 2`
  against plain `python` running two scripts at a time (equal parallelism);
- a re-run of the class of 40 with nothing changed, the whole `grade` command (target < 5 s);
- the class of 20 through `--cluster local:2`.
Also prints the machine's load (`uptime`): on a shared machine the figures are noisy.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from grader.kinds import load_course  # noqa: E402
from grader.discover import discover  # noqa: E402
from grader.options import GradingOptions  # noqa: E402
from grader.pipeline.pool import grade_class  # noqa: E402
from grader.pipeline.stopwatch import STAGES  # noqa: E402
from grader.prepare import load_notebook  # noqa: E402
from grader.pipeline.folder import cpu_count, torch_threads  # noqa: E402
from grader.sandbox.bwrap import Limits  # noqa: E402
from grader.store.gradebook import Gradebook  # noqa: E402

ASSIGNMENT = "05_attention_mechanism"
# Demo students whose notebook 05 grades normally (not ivan_infinite_loop, which burns its timeout).
DEMO = ["ada_lovelace", "alan_turing", "dara_missing_scale", "eli_mask_after_softmax", "fay_wrong_softmax_dim",
        "gus_heads_wrong_order"]


def build_class(root: Path, size: int) -> Path:
    root.mkdir(parents=True)
    for index in range(size):
        source = DEMO[index % len(DEMO)]
        shutil.copytree(REPO / "submissions" / source, root / f"s{index:03d}_{source}")
    return root


def plain_python(folder: Path, scratch: Path, parallel: int = 1) -> float:
    """Wall seconds per notebook: each notebook's code cells run as one script by `python`,
    `parallel` at a time, each with CPUs / parallel threads (as `grade --jobs` gives a sandbox)."""
    notebooks = sorted(folder.glob(f"*/{ASSIGNMENT}.ipynb"))
    scripts = []
    for index, path in enumerate(notebooks):
        nb = load_notebook(path, ASSIGNMENT)
        script = scratch / f"nb{parallel}_{index}.py"
        script.write_text("\n\n".join(c.source for c in nb.cells if c.cell_type == "code"))
        scripts.append(script)
    threads = str(max(1, cpu_count() // parallel))
    env = {**os.environ, "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads, "HF_HUB_OFFLINE": "1"}

    def run(script: Path) -> None:
        subprocess.run([sys.executable, str(script)], cwd=scratch, capture_output=True, timeout=120, env=env)

    started = time.monotonic()
    with ThreadPoolExecutor(parallel) as pool:
        list(pool.map(run, scripts))
    return (time.monotonic() - started) / len(notebooks)


def timed_grade(folder: Path, db: Path, *, jobs: int = 1, cluster: str | None = None,  # type: ignore[no-untyped-def]
                spare_kernels: bool | None = None):
    course = load_course(REPO)
    submissions = discover(folder, course, only={ASSIGNMENT})
    limits = Limits(submission_timeout_s=120, cell_timeout_s=60, torch_threads=torch_threads(jobs, cluster))
    started = time.monotonic()
    with Gradebook(db) as store:
        result = grade_class(submissions, course, store, GradingOptions(jobs=jobs, cluster=cluster, limits=limits,
                                                                        spare_kernels=spare_kernels))
    seconds = time.monotonic() - started
    statuses = sorted({g.status.value for g in result.grades})
    return seconds, result, statuses


def stage_line(stages: dict[str, float]) -> str:
    return " · ".join(f"{s} {stages[s]:.1f}" for s in STAGES if s in stages)


def main() -> None:
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(f"machine: {cpu_count()} CPUs; load at start: {load}")
    with tempfile.TemporaryDirectory(prefix="grade-bench-") as tmp:
        work = Path(tmp)
        class20 = build_class(work / "class20", 20)
        class40 = build_class(work / "class40", 40)

        plain = plain_python(class20, work)
        plain2 = plain_python(class20, work, parallel=2)
        one, r1, st1 = timed_grade(class20, work / "j1.db", jobs=1)
        cold, r0, _ = timed_grade(class20, work / "j1cold.db", jobs=1, spare_kernels=False)
        two, r2, st2 = timed_grade(class20, work / "j2.db", jobs=2)
        print(f"\nclass of 20 ({ASSIGNMENT}), statuses {st1} / {st2}")
        print(f"  plain python           {plain:6.2f} s/notebook")
        print(f"  grade --jobs 1  {one:6.1f} s  {one / 20:6.2f} s/notebook  {one / 20 / plain:5.2f}x plain python"
              f"   (target <= 1.3x)")
        print(f"  grade --jobs 2  {two:6.1f} s  {two / 20:6.2f} s/notebook  speedup {one / two:4.2f}x over --jobs 1"
              f"   (target >= 1.7x)")
        print(f"  --jobs 1 without spare kernels {cold:6.1f} s  {cold / 20:6.2f} s/notebook  "
              f"{cold / 20 / plain:5.2f}x plain python; --jobs 2 speedup over it {cold / two:4.2f}x")
        print(f"  plain python, 2 at a time {plain2:6.2f} s/notebook; grade --jobs 2 (the default on 2 CPUs) "
              f"{two / 20 / plain2:5.2f}x that, at equal parallelism")
        print(f"  stages, --jobs 1 no spares (s, summed): {stage_line(r0.stages)}")
        print(f"  stages, --jobs 1 (s, summed): {stage_line(r1.stages)}")
        print(f"  stages, --jobs 2 (s, summed): {stage_line(r2.stages)}")

        forty, r40, st40 = timed_grade(class40, work / "c40.db", jobs=2)
        print(f"\nclass of 40, --jobs 2: {forty:.1f} s ({forty / 40:.2f} s/notebook), statuses {st40}")
        command = [sys.executable, "-c", "from grader.cli import main; main()", "run", str(class40),
                   "--db", str(work / "c40.db"), "--reports", str(work / "reports"), "--only", ASSIGNMENT,
                   "--jobs", "2", "--course", str(REPO)]
        started = time.monotonic()
        rerun = subprocess.run(command, capture_output=True, text=True, cwd=work)
        again = time.monotonic() - started
        tail = (rerun.stderr.strip().splitlines() or [""])[-1][:200]
        print(f"  re-run, nothing changed, whole `grade` command: {again:.2f} s (exit {rerun.returncode}; "
              f"target < 5 s); {tail}")
        _, rr, _ = timed_grade(class40, work / "c40.db", jobs=2)
        print(f"  re-run in-process (database only): {rr.seconds:.2f} s, {rr.reused} reused, {rr.graded} graded")

        clustered, rc, stc = timed_grade(class20, work / "cl.db", cluster="local:2")
        same = {(g.student, g.score) for g in rc.grades} == {(g.student, g.score) for g in r2.grades}
        print(f"\nclass of 20, --cluster local:2: {clustered:.1f} s ({clustered / 20:.2f} s/notebook, "
              f"{one / clustered:.2f}x over --jobs 1), grades equal to the local pool's: {same}, statuses {stc}")
        print(f"  stages (s, summed): {stage_line(rc.stages)}")
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(f"\nload at end: {load}")


if __name__ == "__main__":
    main()
