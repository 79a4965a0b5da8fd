"""How a class is graded: isolation, limits, parallelism. Passed unchanged to every stage and worker."""

from __future__ import annotations

from dataclasses import dataclass, replace

from grader.sandbox.interpreter import Interpreter
from grader.sandbox.limits import Limits


@dataclass(frozen=True)
class GradingOptions:
    sandbox: bool = True
    limits: Limits = Limits()
    jobs: int = 1
    force: bool = False
    cluster: str | None = None  # a Dask scheduler address, or "local:N"; None: the local pool
    spare_kernels: bool | None = None  # start each worker's next kernel ahead; None: when CPUs are idle
    # The Python of sandboxed kernels: the course's kernel environment (grader/course/environment.py);
    # None: grade's own (a course without `packages:`, tests that start kernels themselves).
    kernel: Interpreter | None = None
    # Sandboxed kernels forked from a warm template per worker (grader/kernel/template.py) instead of
    # started cold through bwrap; the same sandbox either way. `grade PATH --kernel-start warm|cold`.
    warm_kernels: bool = True
    # The homework's scorers forked from a warm template too (grader/homework/warm_scorer.py). The template
    # costs one cold start's imports and more, so it pays from a worker's second model on. None: decided
    # per run by grade_class (warm when warm_kernels and there are more models to score than jobs).
    warm_scorers: bool | None = None
    # What the warm kernel template imports besides ipykernel, numpy and torch: torch._dynamo only for a
    # run whose assignments train (grader/pipeline/template_imports.py). None: the default (it does).
    kernel_imports: tuple[str, ...] | None = None
    # The pre-flight skips an assignment a stamp says passed with everything its check reads unchanged
    # (grader/pipeline/course_stamps.py). `grade run` sets it, unless --recheck-course; what checks a course
    # for its author (`grade validate`, `grade audit`) leaves it off and checks for real.
    course_stamps: bool = False

    def scorers_warm_for(self, models: int) -> "GradingOptions":
        """These options with warm_scorers decided for a run that scores `models` models."""
        if self.warm_scorers is not None:
            return self
        return replace(self, warm_scorers=self.warm_kernels and models > max(1, self.jobs))

    def kernel_imports_for(self, imports: tuple[str, ...]) -> "GradingOptions":
        """These options with kernel_imports decided for a run (kept when the caller chose)."""
        return self if self.kernel_imports is not None else replace(self, kernel_imports=imports)
