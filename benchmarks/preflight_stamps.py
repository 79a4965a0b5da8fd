"""What the pre-flight's stamps save: `grade run` of an unchanged course, without a stamp and with one.

Run: PYTHONPATH=. .venv/bin/python benchmarks/preflight_stamps.py [--students 20] [--jobs 2] [--pairs 3] [--json]

Each pair: notebook 05, a class of --students built as vs_nbgrader.py builds it, a fresh database
each run; the first run with an empty stamps folder (GRADE_PREFLIGHT_CACHE), so its pre-flight
checks the course and writes the stamp, the second with that stamp. Per run: wall seconds; the
CPU seconds of the whole tree (a cgroup of its own, as benchmarks/cpu_profile.py counts them);
the coordinator's own CPU seconds (its rusage from wait4: itself, interpreter teardown included,
and the children it reaped; the forkserver and the workers are not its to reap); the pre-flight
stage of `time per stage`. The machine's load moves every figure: compare within a pair.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cpu_profile import GRADE_CODE, CpuGroup  # noqa: E402
from vs_nbgrader import ASSIGNMENT, build_grade_class, class_names, demo_students  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def grade_run(path: Path, stamps: Path, work: Path, *, jobs: int, timeout: float) -> dict[str, Any]:
    """One `grade run` over `path` with a fresh database; the stamps in `stamps`."""
    group = CpuGroup(f"grade-preflight-bench-{os.getpid()}-{time.monotonic_ns()}")
    db = work / f"g-{time.monotonic_ns()}.db"
    command = [sys.executable, "-c", GRADE_CODE, "run", str(path), "--course", str(REPO), "--jobs", str(jobs),
               "--only", ASSIGNMENT, "--db", str(db), "--reports", str(work / "reports")]
    env = dict(os.environ, COLUMNS="400", PYTHONPATH=str(REPO), GRADE_PREFLIGHT_CACHE=str(stamps))
    try:
        started = time.monotonic()
        with tempfile.TemporaryFile("w+") as err:
            process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=err,
                                       preexec_fn=group.join)
            _, status, usage = os.wait4(process.pid, 0)
            process.returncode = os.waitstatus_to_exitcode(status)
            wall = time.monotonic() - started
            err.seek(0)
            said = err.read()
        time.sleep(0.5)  # the last sandboxes' processes are reaped
        tree = group.seconds()
    finally:
        group.remove()
    if process.returncode != 0:
        raise RuntimeError(f"grade run failed ({process.returncode}): {said[-2000:]}")
    stages = next((line for line in said.splitlines() if line.startswith("time per stage")), "")
    preflight = re.search(r"preflight ([0-9.]+) s", stages)
    return {"wall_s": round(wall, 2), "tree_cpu_s": round(tree, 2),
            "coordinator_cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
            "preflight_stage_s": float(preflight.group(1)) if preflight else None,
            "remembered": "course checked:" in said}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args()
    submissions = REPO / "submissions"
    names = class_names(demo_students(submissions, ASSIGNMENT), args.students)
    pairs = []
    with tempfile.TemporaryDirectory(prefix="grade-preflight-bench-") as tmp:
        work = Path(tmp)
        build_grade_class(submissions, work / "class", names, ASSIGNMENT)
        for _ in range(args.pairs):
            stamps = work / "stamps"
            shutil.rmtree(stamps, ignore_errors=True)
            first = grade_run(work / "class", stamps, work, jobs=args.jobs, timeout=args.timeout)
            second = grade_run(work / "class", stamps, work, jobs=args.jobs, timeout=args.timeout)
            pairs.append({"without_stamp": first, "with_stamp": second})
            if not args.json:
                print(f"without stamp {first}\nwith stamp    {second}", flush=True)
    medians = {side: {key: statistics.median(p[side][key] for p in pairs)
                      for key in ("wall_s", "tree_cpu_s", "coordinator_cpu_s", "preflight_stage_s")}
               for side in ("without_stamp", "with_stamp")}
    result = {"students": len(names), "jobs": args.jobs, "pairs": pairs, "medians": medians}
    print(json.dumps(result, indent=1) if args.json else f"medians: {json.dumps(medians)}")


if __name__ == "__main__":
    main()
