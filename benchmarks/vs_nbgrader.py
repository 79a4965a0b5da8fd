"""`grade` against nbgrader 0.9.6 on the same class of notebook-05 students, in the same run.

Run: PYTHONPATH=. .venv/bin/python benchmarks/vs_nbgrader.py [--students 20] [--kernel-start cold|warm|both]
     [--whole-class] [--json]

- nbgrader 0.9.6 and torch 2.13.0 (CPU) go into their own venv under
  ~/.cache/grade/bench/nbgrader-0.9.6 (made once, reused): never into the project's.
- The class: the demo's notebook-05 submissions (ivan_infinite_loop left out: both tools would
  only wait for their timeouts), copied under distinct names up to --students.
- nbgrader's course: the reference notebook as the source (its BEGIN/END SOLUTION cells are
  the solution cells) and one autograder test cell per test of grade's suites (public and
  hidden, the rubric's points), which runs that test in the student's kernel, the way nbgrader
  grades. `nbgrader autograde` grades the class one notebook after another.
- `grade run --jobs 2` (fresh database) grades the same class; --kernel-start is passed on only
  when `grade run --help` lists it, so the script runs on a checkout without it.
- The floor: one student's code cells run by the students' `python` (the median of 3 runs).
- Memory: the proportional set size (PSS, /proc/PID/smaps_rollup) of every process under grade,
  sampled while it grades: per sandbox (a bwrap process and all under it) and in total, for
  --jobs 2 and --jobs 8.
- --whole-class: the whole demo class, every assignment, per stage (execute, checks, homework
  scoring, total) for each kernel start.
This is a benchmark, not a test: the machine's load moves every figure, so compare figures of
the same run (the ratios), never across runs.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

REPO = Path(__file__).resolve().parent.parent
ASSIGNMENT = "05_attention_mechanism"
NBGRADER = "0.9.6"
VENV = Path.home() / ".cache" / "grade" / "bench" / f"nbgrader-{NBGRADER}"
# what the venv needs beside nbgrader: the students' torch, and what grade's test helpers import
VENV_PACKAGES = (["torch==2.13.0"], [f"nbgrader=={NBGRADER}", "numpy==2.4.6", "safetensors==0.8.0"])
LEFT_OUT = ("ivan_infinite_loop",)  # a notebook that never ends: both tools only wait for their timeouts
COURSE_ID = "bench"
# `grade` as this checkout has it (the PYTHONPATH's grader), whatever venv script is on PATH
GRADE = [sys.executable, "-c", "import sys; from grader.cli import main; sys.argv[0] = 'grade'; main()"]
NB_ASSIGNMENT = "ps1"


# -- the class ---------------------------------------------------------------------------

def class_names(available: list[str], count: int) -> list[tuple[str, str]]:
    """(new name, source student) pairs: every available student once, then copies named
    `<student>_copyN` in turn, until there are `count` (at least one of each when count is smaller)."""
    if not available:
        raise ValueError("no submissions to build a class from")
    names: list[tuple[str, str]] = []
    round_ = 0
    while len(names) < count:
        for student in available:
            if len(names) >= count:
                break
            names.append((student if round_ == 0 else f"{student}_copy{round_}", student))
        round_ += 1
    return names


def demo_students(submissions: Path, assignment: str) -> list[str]:
    """The demo students with a notebook for `assignment`, minus LEFT_OUT, sorted."""
    return sorted(p.parent.name for p in submissions.glob(f"*/{assignment}.ipynb") if p.parent.name not in LEFT_OUT)


def build_grade_class(submissions: Path, target: Path, names: list[tuple[str, str]], assignment: str) -> None:
    """`target/<name>/<assignment>.ipynb` for each pair: the layout `grade PATH` reads."""
    for name, source in names:
        (target / name).mkdir(parents=True, exist_ok=True)
        shutil.copy(submissions / source / f"{assignment}.ipynb", target / name / f"{assignment}.ipynb")


# -- nbgrader's course -------------------------------------------------------------------

def test_functions(test_file: Path) -> list[tuple[str, list[str]]]:
    """(name, fixture names) of each top-level test function of a pytest file, in file order."""
    tree = ast.parse(test_file.read_text())
    return [(node.name, [a.arg for a in node.args.args]) for node in tree.body
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test")]


def test_cell_source(test_file: Path, name: str, fixtures: list[str], reference: Path, repo: Path) -> str:
    """An nbgrader autograder cell that runs one of grade's tests in the student's kernel: `student` is
    the notebook's namespace, `reference` the reference notebook run here, every random source seeded
    first (as grade's pytest plugin does)."""
    arguments = ", ".join({"student": "_grade_student", "reference": "_grade_reference"}[f] for f in fixtures)
    return "\n".join([
        f"# {name}: grade's test, run the nbgrader way (in this kernel)",
        "if '_grade_tests' not in globals():",
        "    import importlib.util, random, sys, types",
        f"    sys.path.insert(0, {str(repo)!r})",
        "    from grader.course.reference import load_reference",
        "    _grade_student = types.SimpleNamespace(**{k: v for k, v in globals().items() if not k.startswith('_')})",
        f"    _grade_reference = load_reference(__import__('pathlib').Path({str(reference)!r}))",
        "    _grade_tests = {}",
        f"if {str(test_file)!r} not in _grade_tests:",
        f"    _spec = importlib.util.spec_from_file_location({test_file.stem!r}, {str(test_file)!r})",
        "    _module = importlib.util.module_from_spec(_spec); _spec.loader.exec_module(_module)",
        f"    _grade_tests[{str(test_file)!r}] = _module",
        "import numpy, torch; random.seed(0); numpy.random.seed(0); torch.manual_seed(0)",
        f"_grade_tests[{str(test_file)!r}].{name}({arguments})",
    ])


def nbgrader_source(reference_nb: Any, tests: list[tuple[Path, str, list[str], float]], reference: Path,
                    repo: Path) -> Any:
    """The instructor's nbgrader notebook: solution cells where the reference has BEGIN SOLUTION, then one
    autograder cell per (test file, test, fixtures, points)."""
    nb = nbformat.from_dict(json.loads(json.dumps(reference_nb)))
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and "### BEGIN SOLUTION" in cell.source:
            cell.metadata["nbgrader"] = {"solution": True, "grade": False, "locked": False,
                                         "grade_id": f"solution_{index}", "schema_version": 3}
    for test_file, name, fixtures, points in tests:
        cell = nbformat.v4.new_code_cell(test_cell_source(test_file, name, fixtures, reference, repo))
        cell.metadata["nbgrader"] = {"solution": False, "grade": True, "locked": True, "points": points,
                                     "grade_id": name, "schema_version": 3}
        nb.cells.append(cell)
    return nb


def defined_names(source: str) -> set[str]:
    """The top-level functions and classes a cell defines (none when it does not parse)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    return {node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))}


def nbgrader_submission(student_nb: Any, release_nb: Any) -> Any:
    """A student's notebook as nbgrader expects it back: their cells as they are (extra cells too), each
    solution cell's metadata on the cell of theirs that defines the same functions and classes, then the
    release's test cells (autograde restores locked cells it finds, and adds none)."""
    nb = nbformat.from_dict(json.loads(json.dumps(student_nb)))
    theirs = [c for c in nb.cells if c.cell_type == "code"]
    for cell in release_nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            names = defined_names(cell.source)
            match = next((c for c in theirs if names and names <= defined_names(c.source)
                          and "nbgrader" not in c.metadata), None)
            if match is not None:
                match.metadata["nbgrader"] = dict(meta)
        elif meta.get("grade"):
            nb.cells.append(nbformat.from_dict(json.loads(json.dumps(cell))))
    return nb


# -- running the tools ---------------------------------------------------------------------

def ensure_venv(venv: Path = VENV) -> Path:
    """nbgrader's venv, made once (torch first, pinned: an unpinned one pulls a CUDA build)."""
    python = venv / "bin" / "python"
    marker = venv / ".grade-bench-ready"
    if not marker.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        for packages in VENV_PACKAGES:
            subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *packages],
                           check=True)
        marker.write_text("ok\n")
    return venv


def run_nbgrader(venv: Path, course: Path, timeout: float) -> float:
    """Seconds of `nbgrader autograde` over the class (the source is generated before the clock starts)."""
    env = dict(os.environ, PATH=f"{venv / 'bin'}:{os.environ['PATH']}", JUPYTER_PLATFORM_DIRS="1")
    nbgrader = str(venv / "bin" / "nbgrader")
    subprocess.run([nbgrader, "generate_assignment", NB_ASSIGNMENT, "--force", "--create"], cwd=course, env=env,
                   check=True, capture_output=True, timeout=timeout)
    started = time.monotonic()
    done = subprocess.run([nbgrader, "autograde", NB_ASSIGNMENT, "--force", "--create"], cwd=course, env=env,
                          capture_output=True, text=True, timeout=timeout)
    seconds = time.monotonic() - started
    if done.returncode != 0:
        raise RuntimeError(f"nbgrader autograde failed ({done.returncode}): {done.stderr[-2000:]}")
    return seconds


def nbgrader_scores(venv: Path, course: Path) -> dict[str, float]:
    """{student: score} from nbgrader's gradebook, to show both tools graded the same class."""
    code = ("import json,sys\nfrom nbgrader.api import Gradebook\n"
            "with Gradebook('sqlite:///gradebook.db') as gb:\n"
            f"    print(json.dumps({{s.student.id: s.score for s in gb.assignment_submissions({NB_ASSIGNMENT!r})}}))\n")
    done = subprocess.run([str(venv / "bin" / "python"), "-c", code], cwd=course, capture_output=True, text=True)
    return json.loads(done.stdout) if done.returncode == 0 else {}


def grade_lists(option: str) -> bool:
    """Does this checkout's `grade run` have `option`?"""
    done = subprocess.run([*GRADE, "run", "--help"], capture_output=True, text=True,
                          cwd=REPO, env=dict(os.environ, COLUMNS="200"))
    return option in done.stdout


@dataclass
class GradeRun:
    seconds: float
    stages: dict[str, float]
    pss_total_mib: float = 0.0
    pss_per_sandbox_mib: list[float] = field(default_factory=list)


def run_grade(path: Path, *, jobs: int, only: str | None, kernel_start: str | None, timeout: float,
              sample_memory: bool = False) -> GradeRun:
    """`grade run PATH` with a fresh database; wall seconds, the run's stage line, and PSS when asked."""
    with tempfile.TemporaryDirectory(prefix="grade-bench-") as tmp:
        command = [*GRADE, "run", str(path), "--course", str(REPO), "--jobs", str(jobs),
                   "--db", str(Path(tmp, "g.db")), "--reports", str(Path(tmp, "reports"))]
        command += ["--only", only] if only else []
        command += ["--kernel-start", kernel_start] if kernel_start else []
        started = time.monotonic()
        process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                   env=dict(os.environ, COLUMNS="400"))
        sampler = PssSampler(process.pid) if sample_memory else None
        if sampler:
            sampler.start()
        output, _ = process.communicate(timeout=timeout)
        seconds = time.monotonic() - started
        if sampler:
            sampler.stop()
        if process.returncode not in (0, 1):  # 1: some submission did not pass, still graded
            raise RuntimeError(f"grade run failed ({process.returncode}): {output[-2000:]}")
        run = GradeRun(seconds, stage_seconds(output))
        if sampler:
            run.pss_total_mib, run.pss_per_sandbox_mib = sampler.peak_total_mib, sampler.peak_sandboxes_mib
        return run


def stage_seconds(output: str) -> dict[str, float]:
    """{stage: seconds} from grade's `time per stage (...): execute 41.5 s · checks 18.2 s` line."""
    line = next((l for l in output.splitlines() if l.startswith("time per stage")), "")
    return {name: float(value) for name, value in re.findall(r"(\w+) ([\d.]+) s", line.split(":", 1)[-1])}


def plain_python_floor(kernel_python: str, notebook: Path, runs: int = 3) -> float:
    """Median seconds of the students' python running one notebook's code cells (magics dropped)."""
    nb = nbformat.read(notebook, as_version=4)
    code = "\n\n".join("\n".join(l for l in c.source.splitlines() if not l.lstrip().startswith(("%", "!")))
                       for c in nb.cells if c.cell_type == "code")
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp, "student.py")
        script.write_text(code)
        times = []
        for _ in range(runs):
            started = time.monotonic()
            subprocess.run([kernel_python, str(script)], cwd=tmp, capture_output=True, timeout=300)
            times.append(time.monotonic() - started)
    return statistics.median(times)


# -- memory ------------------------------------------------------------------------------------

def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def _descendants(pid: int, tree: dict[int, list[int]]) -> list[int]:
    found, stack = [], [pid]
    while stack:
        current = stack.pop()
        found.append(current)
        stack.extend(tree.get(current, []))
    return found


def pss_kib(pid: int) -> int:
    """PSS of one process in KiB (0 when it is gone or unreadable)."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0
    match = re.search(r"^Pss:\s+(\d+) kB", text, re.MULTILINE)
    return int(match.group(1)) if match else 0


def _sandbox_uid(pid: int) -> bool:
    """Whether the process runs as one of the sandbox slots' uids (grader.sandbox.bwrap.SANDBOX_UID_BASE + slot)."""
    from grader.sandbox.bwrap import MAX_SLOTS, SANDBOX_UID_BASE

    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    match = re.search(r"^Uid:\s+(\d+)", status, re.MULTILINE)
    return bool(match) and SANDBOX_UID_BASE <= int(match.group(1)) < SANDBOX_UID_BASE + MAX_SLOTS


class PssSampler(threading.Thread):
    """Samples the PSS of every process under `root` every `interval` s: the peak total, and the peak of
    each sandbox (the outermost process with a sandbox uid, and everything under it) seen."""

    def __init__(self, root: int, interval: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.root, self.interval = root, interval
        self.peak_total_kib = 0
        self.sandboxes: dict[int, int] = {}
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.is_set():
            tree = _children()
            pids = _descendants(self.root, tree)
            self.peak_total_kib = max(self.peak_total_kib, sum(pss_kib(p) for p in pids))
            # A sandbox: the outermost process running as a sandbox uid, with everything under it (a cold
            # kernel under bwrap + setpriv, or a warm kernel's pid 1 forked from the template).
            outermost = [p for p in pids if _sandbox_uid(p)]
            inner = {d for p in outermost for d in _descendants(p, tree)[1:]}
            for sandbox in (p for p in outermost if p not in inner):
                total = sum(pss_kib(p) for p in _descendants(sandbox, tree))
                self.sandboxes[sandbox] = max(self.sandboxes.get(sandbox, 0), total)
            self._done.wait(self.interval)

    def stop(self) -> None:
        self._done.set()
        self.join()

    @property
    def peak_total_mib(self) -> float:
        return self.peak_total_kib / 1024

    @property
    def peak_sandboxes_mib(self) -> list[float]:
        return [kib / 1024 for kib in self.sandboxes.values() if kib]


# -- the benchmark -----------------------------------------------------------------------------

def build_nbgrader_course(course: Path, names: list[tuple[str, str]], submissions: Path) -> None:
    """nbgrader's course folder: config, source notebook, and each student's submission."""
    from grader.kinds import load_course

    assignment = load_course(REPO).assignments[ASSIGNMENT]
    points = {test: value for part in assignment.rubric.parts for test, value in part.tests}
    tests = [(file, name, fixtures, float(points.get(name, 1))) for file in assignment.test_files()
             for name, fixtures in test_functions(file)]
    reference = nbformat.read(assignment.reference_notebook, as_version=4)
    source = nbgrader_source(reference, tests, assignment.reference_notebook, REPO)
    (course / "source" / NB_ASSIGNMENT).mkdir(parents=True)
    nbformat.write(source, course / "source" / NB_ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    (course / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        f"c.CourseDirectory.course_id = {COURSE_ID!r}\n"
        "c.CourseDirectory.root = __file__.rsplit('/', 1)[0]\n"
        "c.ExecutePreprocessor.timeout = 300\n"
        "c.Execute.timeout = 300\n")
    for name, student in names:
        folder = course / "submitted" / name / NB_ASSIGNMENT
        folder.mkdir(parents=True)
        theirs = nbformat.read(submissions / student / f"{ASSIGNMENT}.ipynb", as_version=4)
        nbformat.write(nbgrader_submission(theirs, source), folder / f"{ASSIGNMENT}.ipynb")


def notebook05(students: int, kernel_starts: list[str | None], work: Path, timeout: float) -> dict[str, Any]:
    """The notebook-05 class graded by nbgrader and by grade (each kernel start), the floor, and PSS."""
    from grader.course.environment import kernel_interpreter
    from grader.kinds import load_course

    submissions = REPO / "submissions"
    names = class_names(demo_students(submissions, ASSIGNMENT), students)
    build_grade_class(submissions, work / "class", names, ASSIGNMENT)
    build_nbgrader_course(work / "nbgrader", names, submissions)
    venv = ensure_venv()
    interpreter = kernel_interpreter(load_course(REPO).config)
    kernel_python = str(interpreter.executable) if interpreter else sys.executable
    result: dict[str, Any] = {"students": len(names), "jobs": 2}
    result["floor_s"] = plain_python_floor(kernel_python, submissions / "ada_lovelace" / f"{ASSIGNMENT}.ipynb")
    nbgrader_s = run_nbgrader(venv, work / "nbgrader", timeout)
    result["nbgrader"] = {"seconds": nbgrader_s, "per_notebook_s": nbgrader_s / len(names),
                          "scores": nbgrader_scores(venv, work / "nbgrader")}
    result["grade"] = {}
    for start in kernel_starts:
        label = start or "default"
        runs = {jobs: run_grade(work / "class", jobs=jobs, only=ASSIGNMENT, kernel_start=start, timeout=timeout,
                                sample_memory=True) for jobs in (2, 8)}
        two = runs[2]
        per_notebook = two.seconds / len(names)
        result["grade"][label] = {
            "seconds": two.seconds, "per_notebook_s": per_notebook,
            "ratio_nbgrader_over_grade": nbgrader_s / two.seconds,
            "cpu_per_notebook_s": per_notebook * 2, "cpu_over_floor": per_notebook * 2 / result["floor_s"],
            "stages": two.stages,
            "pss": {f"jobs{jobs}": {"total_mib": run.pss_total_mib,
                                    "per_sandbox_mib": (statistics.median(run.pss_per_sandbox_mib)
                                                        if run.pss_per_sandbox_mib else 0.0),
                                    "sandboxes_seen": len(run.pss_per_sandbox_mib), "seconds": run.seconds}
                    for jobs, run in runs.items()},
        }
    return result


def whole_class(kernel_starts: list[str | None], timeout: float) -> dict[str, Any]:
    """Every assignment of the demo class with --jobs 2, per stage, for each kernel start."""
    out = {}
    for start in kernel_starts:
        run = run_grade(REPO / "submissions", jobs=2, only=None, kernel_start=start, timeout=timeout)
        stages = run.stages
        out[start or "default"] = {"total_s": run.seconds, "execute_s": stages.get("execute", 0.0),
                                   "checks_s": stages.get("checks", 0.0), "homework_s": stages.get("score", 0.0),
                                   "stages": stages}
    return out


def table(result: dict[str, Any]) -> str:
    lines = []
    nb = result.get("notebook05")
    if nb:
        lines.append(f"notebook 05, {nb['students']} students; plain python floor {nb['floor_s']:.2f} s (one student)")
        lines.append(f"  nbgrader autograde      {nb['nbgrader']['seconds']:7.1f} s  "
                     f"{nb['nbgrader']['per_notebook_s']:5.2f} s/notebook")
        for label, g in nb["grade"].items():
            pss = g["pss"]
            lines.append(f"  grade --jobs 2 ({label:7}) {g['seconds']:7.1f} s  {g['per_notebook_s']:5.2f} s/notebook  "
                         f"nbgrader/grade {g['ratio_nbgrader_over_grade']:.2f}x  CPU {g['cpu_per_notebook_s']:.2f} s/"
                         f"notebook = {g['cpu_over_floor']:.2f}x floor")
            for jobs, p in pss.items():
                lines.append(f"      PSS {jobs}: total {p['total_mib']:7.0f} MiB, per sandbox {p['per_sandbox_mib']:5.0f}"
                             f" MiB (median of {p['sandboxes_seen']}), run {p['seconds']:.1f} s")
    for label, w in result.get("whole_class", {}).items():
        lines.append(f"whole class ({label}): total {w['total_s']:.1f} s; execute {w['execute_s']:.1f} s, checks "
                     f"{w['checks_s']:.1f} s, homework {w['homework_s']:.1f} s (summed over 2 jobs)")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=20, help="class size for notebook 05 (default 20)")
    parser.add_argument("--kernel-start", choices=["cold", "warm", "both"], default=None,
                        help="passed on to grade run (when it has the option); both: one run each")
    parser.add_argument("--whole-class", action="store_true", help="also the whole demo class, per stage")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds for each tool's run")
    arguments = parser.parse_args()
    starts: list[str | None] = [None]
    if arguments.kernel_start and grade_lists("--kernel-start"):
        starts = ["cold", "warm"] if arguments.kernel_start == "both" else [arguments.kernel_start]
    elif arguments.kernel_start:
        print("grade run has no --kernel-start here: its default is measured", file=sys.stderr)
    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="vs-nbgrader-") as tmp:
        result["notebook05"] = notebook05(arguments.students, starts, Path(tmp), arguments.timeout)
    if arguments.whole_class:
        result["whole_class"] = whole_class(starts, arguments.timeout)
    print(json.dumps(result, indent=2) if arguments.json else table(result))


if __name__ == "__main__":
    main()
