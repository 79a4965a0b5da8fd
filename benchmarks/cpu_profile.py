"""CPU seconds per notebook: what `grade run` costs the machine, against the plain-python floor.

Run: PYTHONPATH=. .venv/bin/python benchmarks/cpu_profile.py [--students 20] [--jobs 2] [--repeat 2]
         [--checkout DIR ...] [--split] [--profile FILE] [--json]

- total: `grade run` (notebook 05, a class of --students built as vs_nbgrader.py builds it, warm
  kernels, fresh database) inside a cgroup of its own (cpuacct on cgroup v1, cpu.stat on v2), which
  every process it starts inherits, sandboxes included (they join only memory and pids groups):
  the CPU seconds of the whole tree, not wall x jobs, so idle CPUs and other helpers' load do not
  count. Each --checkout (default: this one) is run --repeat times, interleaved, in the same run,
  and the floor (the CPU seconds of one student's code cells run by the students' `python`,
  median of 3) is measured in the same run: compare the ratios.
- --split: the class graded in this process, one submission after another (one slot), with the
  CPU of each stage (this process's rusage; the sandbox's, from its reaped processes' rusage, is
  its own column), and inside checks the CPU this process spends in the bridge (encoding,
  waiting, decoding) and in the reference's functions. --profile FILE: cProfile of that run.
This is a benchmark, not a test: the machine's load moves every figure, so read one run's ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))
from vs_nbgrader import ASSIGNMENT, build_grade_class, class_names, demo_students  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
GRADE_CODE = "import sys; from grader.cli import main; sys.argv[0] = 'grade'; main()"


# -- the CPU of a process tree -----------------------------------------------------------------

class CpuGroup:
    """A cgroup that counts the CPU of every process started in it (and of their descendants)."""

    def __init__(self, name: str) -> None:
        v2 = Path("/sys/fs/cgroup/cgroup.controllers").exists()
        self.path = Path("/sys/fs/cgroup") / name if v2 else Path("/sys/fs/cgroup/cpuacct") / name
        self.v2 = v2
        self.path.mkdir()

    def join(self) -> None:
        """Move the calling process in (a preexec_fn: the child joins before it execs)."""
        (self.path / "cgroup.procs").write_text(str(os.getpid()))

    def seconds(self) -> float:
        if self.v2:
            stat = dict(line.split() for line in (self.path / "cpu.stat").read_text().splitlines())
            return int(stat["usage_usec"]) / 1e6
        return int((self.path / "cpuacct.usage").read_text()) / 1e9

    def leave(self) -> None:
        """Move the calling process back to the root group."""
        (self.path.parent / "cgroup.procs").write_text(str(os.getpid()))

    def remove(self) -> None:
        for _ in range(100):
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.05)


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def floor_cpu(kernel_python: str, notebook: Path, runs: int = 3) -> tuple[float, float]:
    """(CPU s, wall s), medians: the students' python running one notebook's code cells (magics dropped)."""
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    code = "\n\n".join("\n".join(l for l in c.source.splitlines() if not l.lstrip().startswith(("%", "!")))
                       for c in nb.cells if c.cell_type == "code")
    cpu, wall = [], []
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp, "student.py")
        script.write_text(code)
        for _ in range(runs):
            before, started = children_cpu(), time.monotonic()
            subprocess.run([kernel_python, str(script)], cwd=tmp, capture_output=True, timeout=300)
            wall.append(time.monotonic() - started)
            cpu.append(children_cpu() - before)
    return statistics.median(cpu), statistics.median(wall)


def grade_cpu(checkout: Path, path: Path, *, jobs: int, timeout: float) -> dict[str, float]:
    """CPU and wall seconds of one `grade run` of `checkout` over `path` (fresh database)."""
    with tempfile.TemporaryDirectory(prefix="grade-cpu-") as tmp:
        group = CpuGroup(f"grade-cpu-bench-{os.getpid()}-{time.monotonic_ns()}")
        command = [sys.executable, "-c", GRADE_CODE, "run", str(path), "--course", str(checkout), "--jobs", str(jobs),
                   "--only", ASSIGNMENT, "--kernel-start", "warm",
                   "--db", str(Path(tmp, "g.db")), "--reports", str(Path(tmp, "reports"))]
        env = dict(os.environ, COLUMNS="400", PYTHONPATH=str(checkout))
        try:
            started = time.monotonic()
            done = subprocess.run(command, cwd=checkout, env=env, capture_output=True, text=True, timeout=timeout,
                                  preexec_fn=group.join)
            wall = time.monotonic() - started
            time.sleep(0.5)  # the last sandboxes' processes are reaped
            cpu = group.seconds()
        finally:
            group.remove()
    if done.returncode not in (0, 1):
        raise RuntimeError(f"grade run failed ({done.returncode}): {done.stdout[-1500:]} {done.stderr[-1500:]}")
    stages = next((line for line in (done.stdout + done.stderr).splitlines()
                   if line.startswith("time per stage")), "")
    return {"cpu_s": cpu, "wall_s": wall, "stages": stages}


def totals(checkouts: list[Path], students: int, jobs: int, repeat: int, timeout: float) -> dict[str, Any]:
    from grader.course.environment import kernel_interpreter
    from grader.kinds import load_course

    interpreter = kernel_interpreter(load_course(REPO).config)
    kernel_python = str(interpreter.executable) if interpreter else sys.executable
    submissions = REPO / "submissions"
    names = class_names(demo_students(submissions, ASSIGNMENT), students)
    result: dict[str, Any] = {"students": len(names), "jobs": jobs, "runs": {}}
    with tempfile.TemporaryDirectory(prefix="grade-cpu-class-") as tmp:
        build_grade_class(submissions, Path(tmp), names, ASSIGNMENT)
        floor = floor_cpu(kernel_python, submissions / "ada_lovelace" / f"{ASSIGNMENT}.ipynb")
        result["floor_cpu_s"], result["floor_wall_s"] = floor
        for _ in range(repeat):
            for checkout in checkouts:
                run = grade_cpu(checkout, Path(tmp), jobs=jobs, timeout=timeout)
                result["runs"].setdefault(str(checkout), []).append(run)
    for checkout, runs in result["runs"].items():
        cpu = statistics.median(r["cpu_s"] for r in runs) / len(names)
        wall = statistics.median(r["wall_s"] for r in runs) / len(names)
        result.setdefault("per_notebook", {})[checkout] = {
            "cpu_s": cpu, "cpu_over_floor": cpu / result["floor_cpu_s"],
            "wall_s": wall, "wall_x_jobs_over_floor_wall": wall * jobs / result["floor_wall_s"]}
    return result


# -- the split, in this process -----------------------------------------------------------------

def cpu_clocks():  # type: ignore[no-untyped-def]
    """trusted_side's Clocks counting this process's CPU seconds (nested calls once, by the outer one)."""
    from benchmarks.trusted_side import Clocks

    return Clocks(time.process_time)


def split(students: int, profile_to: Path | None) -> dict[str, float]:
    """{column: CPU seconds per notebook}: this process per stage, the sandboxes, bridge and reference."""
    import torch

    import grader.course.reference as reference
    from grader.course.environment import kernel_interpreter
    from grader.discover import discover
    from grader.kernel.bridge import Bridge
    from grader.kinds import load_course
    from grader.options import GradingOptions
    from grader.pipeline.stopwatch import Stopwatch
    from grader.pipeline.submission import grade_submission
    from grader.sandbox.bwrap import claim_slot
    from trusted_side import timed_reference

    course = load_course(REPO)
    options = GradingOptions(kernel=kernel_interpreter(course.config), warm_kernels=True)
    slot, _lock = claim_slot()
    torch.set_num_threads(max(1, (os.cpu_count() or 2) // 2))  # as a pool worker of --jobs 2 has it
    group = CpuGroup(f"grade-cpu-split-{os.getpid()}")
    group.join()  # the template and every kernel it forks inherit it: their CPU is the group's less ours
    clocks = cpu_clocks()
    Bridge._exchange = clocks.wrap("bridge", Bridge._exchange)  # type: ignore[method-assign]
    original_load, timed = reference.load_reference, {}

    def load_timed(path: Path) -> Any:
        module = original_load(path)
        if id(module) not in timed:
            timed[id(module)] = (module, timed_reference(module, clocks))  # type: ignore[arg-type]
        return timed[id(module)][1]
    reference.load_reference = load_timed  # type: ignore[assignment]
    names = class_names(demo_students(REPO / "submissions", ASSIGNMENT), students)
    totals_: dict[str, float] = defaultdict(float)
    with tempfile.TemporaryDirectory(prefix="grade-cpu-split-") as tmp:
        build_grade_class(REPO / "submissions", Path(tmp), names, ASSIGNMENT)
        submissions = list(discover(Path(tmp), course, only={ASSIGNMENT}))
        # the worker's one-time costs (template start, first imports) out of the figures
        first = submissions[0]
        grade_submission(first, course.assignments[first.assignment], options, slot=slot)
        profiler = None
        if profile_to is not None:
            import cProfile

            profiler = cProfile.Profile(time.process_time)  # CPU, not the waits
            profiler.enable()
        for submission in submissions:
            stopwatch = Stopwatch()
            cpu_by_stage: dict[str, float] = defaultdict(float)
            state: dict[str, Any] = {"stage": None, "cpu": self_cpu(), "group": group.seconds()}
            enter = stopwatch.enter

            def enter_with_cpu(stage: str | None, enter: Callable[[str | None], None] = enter) -> None:
                now, now_group = self_cpu(), group.seconds()
                if state["stage"] is not None:
                    cpu_by_stage[f"worker:{state['stage']}"] += now - state["cpu"]
                    # the sandbox's CPU while this stage ran (its processes' CPU is counted as it is used)
                    cpu_by_stage[f"sandbox:{state['stage']}"] += (now_group - state["group"]) - (now - state["cpu"])
                state["stage"], state["cpu"], state["group"] = stage, now, now_group
                enter(stage)
            stopwatch.enter = enter_with_cpu  # type: ignore[method-assign]
            before_group, before_self = group.seconds(), self_cpu()
            before_clocks = dict(clocks.seconds)
            grade_submission(submission, course.assignments[submission.assignment], options, slot=slot,
                             stopwatch=stopwatch)
            time.sleep(0.2)  # the kernel's processes are reaped
            worker = self_cpu() - before_self
            totals_["worker (this process)"] += worker
            totals_["sandbox (kernel)"] += group.seconds() - before_group - worker
            for stage, seconds in cpu_by_stage.items():
                totals_[stage] += seconds
            for name in ("bridge", "reference"):
                totals_[f"worker:checks:{name}"] += clocks.seconds.get(name, 0.0) - before_clocks.get(name, 0.0)
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(str(profile_to))
    from grader.kernel.template import close_templates

    close_templates()  # the template process sits in the group too
    group.leave()
    group.remove()
    totals_["worker:checks:rest"] = (totals_.get("worker:checks", 0.0) - totals_["worker:checks:bridge"]
                                     - totals_["worker:checks:reference"])
    count = len(names)
    return {name: seconds / count for name, seconds in sorted(totals_.items())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=1, help="runs of each checkout, interleaved (median)")
    parser.add_argument("--checkout", type=Path, action="append",
                        help="a grade checkout to measure (repeatable; default: this one)")
    parser.add_argument("--split", action="store_true", help="also the split per stage, graded in this process")
    parser.add_argument("--profile", type=Path, help="with --split: write a cProfile of the split's run here")
    parser.add_argument("--no-total", action="store_true", help="only the split")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--timeout", type=float, default=1800)
    arguments = parser.parse_args()
    result: dict[str, Any] = {}
    if not arguments.no_total:
        checkouts = [c.resolve() for c in (arguments.checkout or [REPO])]
        result["total"] = totals(checkouts, arguments.students, arguments.jobs, arguments.repeat, arguments.timeout)
    if arguments.split or arguments.profile:
        result["split"] = split(arguments.students, arguments.profile)
    if arguments.json:
        print(json.dumps(result, indent=2))
        return
    total = result.get("total")
    if total:
        print(f"notebook 05, {total['students']} students, --jobs {total['jobs']}; floor: {total['floor_cpu_s']:.2f} "
              f"CPU s ({total['floor_wall_s']:.2f} s wall) for one student's code run by python")
        for checkout, row in total["per_notebook"].items():
            runs = ", ".join(f"{r['cpu_s']:.1f}" for r in total["runs"][checkout])
            print(f"  {checkout}: {row['cpu_s']:.2f} CPU s/notebook = {row['cpu_over_floor']:.2f}x floor "
                  f"(runs: {runs} CPU s); wall {row['wall_s']:.2f} s/notebook, wall x jobs = "
                  f"{row['wall_x_jobs_over_floor_wall']:.2f}x floor's wall")
            print(f"    last run's {total['runs'][checkout][-1]['stages']}")
    if "split" in result:
        print("CPU seconds per notebook, graded in one process (one slot):")
        for name, seconds in result["split"].items():
            print(f"  {name:32} {seconds:6.3f}")


if __name__ == "__main__":
    main()
