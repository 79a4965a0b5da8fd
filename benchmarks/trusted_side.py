"""Where the trusted side's time goes, per assignment of the demo class: execute, checks (split
into waiting on the student's kernel through the bridge, the reference's own functions, and the
rest: the tests' own torch, pytest), and the pipeline's other stages.

Run: PYTHONPATH=. .venv/bin/python benchmarks/trusted_side.py [--only 05_attention_mechanism] [--json] [--course DIR]
Grades in this process, one submission after another (one sandbox slot), so the bridge and the
reference can be timed from outside: nothing here changes what is graded.
"""

from __future__ import annotations

import argparse
import functools
import json
import time
import types
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parent.parent


class Clocks:
    """Seconds spent inside wrapped calls, by name; a call inside another is counted once, by the outer one.
    `clock`: wall time by default; benchmarks/cpu_profile.py passes time.process_time (this process's CPU)."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self._depth = 0
        self._clock = clock

    def wrap(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def timed(*args: Any, **kwargs: Any) -> Any:
            if self._depth:
                return function(*args, **kwargs)
            self._depth += 1
            started = self._clock()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds[name] += self._clock() - started
                self._depth -= 1
        return timed


def timed_reference(module: types.ModuleType, clocks: Clocks) -> types.ModuleType:
    """A copy of the reference namespace whose functions and classes count their time in clocks['reference']."""
    copy = types.ModuleType(module.__name__)
    for name, value in vars(module).items():
        wrapped = callable(value) and not name.startswith("__") and getattr(value, "__module__", None) == module.__name__
        setattr(copy, name, clocks.wrap("reference", value) if wrapped and not isinstance(value, type) else value)
    return copy


def profile(only: list[str] | None, course_root: Path = REPO) -> dict[str, dict[str, float]]:
    """{assignment: {stage: seconds summed over its submissions}} for the demo class, graded here."""
    import grader.course.reference as reference
    from grader.course.environment import kernel_interpreter
    from grader.discover import discover, is_missing
    from grader.kernel.bridge import Bridge
    from grader.kinds import load_course
    from grader.options import GradingOptions
    from grader.pipeline.stopwatch import Stopwatch
    from grader.pipeline.submission import grade_submission
    from grader.sandbox.bwrap import claim_slot

    course = load_course(course_root)
    options = GradingOptions(kernel=kernel_interpreter(course.config))
    slot, _lock = claim_slot()
    clocks = Clocks()
    Bridge._exchange = clocks.wrap("bridge", Bridge._exchange)  # type: ignore[method-assign]
    original_load, timed = reference.load_reference, {}

    def load_timed(path: Path) -> types.ModuleType:  # one timed copy per namespace, as load_reference caches
        module = original_load(path)
        if id(module) not in timed:
            timed[id(module)] = (module, timed_reference(module, clocks))
        return timed[id(module)][1]
    reference.load_reference = load_timed  # type: ignore[assignment]
    table: dict[str, dict[str, float]] = {}
    for submission in discover(course_root / "submissions", course, only=set(only) if only else None):
        assignment = course.assignments[submission.assignment]
        if is_missing(submission) or assignment.kind.name != "notebook" or "infinite" in submission.student:
            continue
        stopwatch = Stopwatch()
        before = dict(clocks.seconds)
        grade_submission(submission, assignment, options, slot=slot, stopwatch=stopwatch)
        row = table.setdefault(submission.assignment, defaultdict(float))
        row["notebooks"] += 1
        for stage, seconds in stopwatch.seconds.items():
            row[stage] += seconds
        for name in ("bridge", "reference"):
            row[f"checks:{name}"] += clocks.seconds.get(name, 0.0) - before.get(name, 0.0)
    for row in table.values():
        row["checks:rest"] = row.get("checks", 0.0) - row["checks:bridge"] - row["checks:reference"]
    return {name: dict(row) for name, row in sorted(table.items())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", help="an assignment (repeatable); default: all notebooks")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--course", type=Path, default=REPO, help="the course root (default: this checkout)")
    arguments = parser.parse_args()
    table = profile(arguments.only, arguments.course)
    if arguments.json:
        print(json.dumps(table, indent=2))
        return
    columns = ["notebooks", "prepare", "execute", "checks", "checks:bridge", "checks:reference", "checks:rest"]
    print(f"{'assignment':30}" + "".join(f"{c:>17}" for c in columns))
    for name, row in table.items():
        print(f"{name:30}" + "".join(f"{row.get(c, 0.0):17.2f}" for c in columns))


if __name__ == "__main__":
    main()
