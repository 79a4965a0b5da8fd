"""What the warm kernel template imports ahead for a run, from the assignments the run grades.

torch._dynamo (with sympy) costs about 2 CPU-s to import. A torch.optim step and torch.func's
transforms (vjp, grad, vmap, jacrev, ...) and torch.compile import it on first use, so in the
template it saves those seconds in every kernel of an assignment that trains; for one that never
does, each worker's template would pay them for nothing (a run of notebook 05 alone: two
templates, 4 CPU-s). An assignment trains when its reference notebook or its tests name one of
those APIs; what cannot be read counts as training. A student who trains where the reference
does not pays the import in their own kernel, once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from grader.course.assignments import Assignment

DYNAMO = "torch._dynamo"
TRAINS = re.compile(r"\boptim\b|torch\.func\.(vjp|jvp|grad|grad_and_value|vmap|jacrev|jacfwd|hessian)\b"
                    r"|\bfunctorch\b|torch\.compile\b")


def kernel_imports(assignments: Iterable[Assignment]) -> tuple[str, ...]:
    """The template's extra imports for a run grading `assignments` (the kinds that start kernels)."""
    return (DYNAMO,) if any(trains(a) for a in assignments if a.kind.needs_kernel) else ()


def trains(assignment: Assignment) -> bool:
    """Does the assignment's reference or one of its tests use an API that imports torch._dynamo?"""
    try:
        files = [assignment.reference_notebook, *assignment.test_files()]
        return any(TRAINS.search(path.read_text(errors="replace")) for path in files)
    except OSError:
        return True
