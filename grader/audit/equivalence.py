"""Equivalent mutants: those whose every measured value matches the reference's.

Each mutant and the reference run in the sandbox (a fresh kernel each, as grading runs a
submission) with grader/audit/probe.py as an extra first cell. The probe fixes every seed,
records the first calls of each function and class the solution cells define, and at the
end replays them on the recorded arguments, on random tensors of the same shapes, and on
random tensors that require grad with a backward pass. Its digest (outputs, inputs after
the call, gradients, and every value left in the notebook's namespace: tensors, arrays,
numbers, strings, containers, modules' state dicts; tensors above 1024 elements by shape,
sums and a strided sample) comes back through the bridge, as JSON and safetensors.

A mutant is *equivalent* when the reference's probe ran the mutated line (the probe traces
the solution cells' lines; a mutant of a branch no probe takes is graded, not dropped), its
notebook ran with the same cell errors as the reference, and every digest entry equals the
reference's (same keys, same types and shapes, numbers
within rtol 1e-5 / atol 1e-7, NaN equal to NaN). Entries that differ between two runs of
the reference itself (nondeterminism) are left out of the comparison. A mutant whose probe
could not finish (a timeout, a dead kernel) is never called equivalent: it is graded.
This is a measurement, not a proof: a mutant whose change shows only on inputs no probe
tried (a value at a comparison's boundary, say) is dropped as equivalent.
"""

from __future__ import annotations

import ast
import math
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import nbformat

from grader.audit.generate import Mutant, parseable, solution_regions
from grader.options import GradingOptions

PROBE_SOURCE = (Path(__file__).parent / "probe.py").read_text()
COVERAGE = "coverage"  # probe.py's digest entry of executed lines (cell index -> line numbers)
DIGEST_NAME = "_grade_audit_digest"
RTOL, ATOL = 1e-5, 1e-7  # float32 round-off of the same computation done the same way is exactly 0


@dataclass(frozen=True)
class ProbeResult:
    status: str  # the Execution status value; "probe failed" when the digest could not be read
    errors: tuple[str, ...]  # the exception types cells raised, in order
    values: dict[str, Any] = field(default_factory=dict)
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "graded" and not self.message


@dataclass(frozen=True)
class Verdict:
    equivalent: bool
    why: str  # for a non-equivalent mutant, the first difference found


def defined_names(source: str) -> list[str]:
    try:
        tree = ast.parse(parseable(source))
    except SyntaxError:
        return []
    return [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))]


def instrumented(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The notebook with the probe in front, a recording cell after each solution cell, the digest last."""
    uses_torch = any("torch" in c.source for c in notebook.cells if c.cell_type == "code")
    first = ("import types as _grade_audit_types\n"
             "_grade_audit = _grade_audit_types.ModuleType('_grade_audit')\n"
             f"exec(compile({PROBE_SOURCE!r}, '<grade-audit-probe>', 'exec'), _grade_audit.__dict__)\n"
             f"_grade_audit = _grade_audit.Probe(globals(), {uses_torch!r})\n"
             "del _grade_audit_types\n")
    cells = [nbformat.v4.new_code_cell(first)]
    for index, cell in enumerate(notebook.cells):
        marked = cell.cell_type == "code" and bool(solution_regions(cell.source))
        if marked:
            cells.append(nbformat.v4.new_code_cell(f"_grade_audit.expect_cell({index})"))
        cells.append(cell)
        if marked:
            names = defined_names(cell.source)
            if names:
                cells.append(nbformat.v4.new_code_cell(f"_grade_audit.wrap_cell({names!r})"))
    cells.append(nbformat.v4.new_code_cell(f"{DIGEST_NAME} = _grade_audit.digest()"))
    probed = nbformat.reads(nbformat.writes(notebook), as_version=4)
    probed.cells = cells
    return probed


UNREACHED = Verdict(False, "no probe ran the mutated line: graded, since a test may reach it")


# -- running probes in the sandbox ---------------------------------------------------------
_slot = 0


def _init_worker(torch_threads: int) -> None:
    global _slot, _lock
    from grader.sandbox.bwrap import claim_slot, die_with_parent

    die_with_parent()
    _slot, _lock = claim_slot()  # held for the worker's life
    import torch

    torch.set_num_threads(max(1, torch_threads))


def probe_notebook(notebook: nbformat.NotebookNode, notebook_name: str, options: GradingOptions,
                   slot: int | None = None) -> ProbeResult:
    """Run the instrumented notebook in a fresh sandboxed kernel and read its digest through the bridge."""
    import shutil

    from grader.kernel.bridge import StudentCodeError, student_namespace
    from grader.kernel.execute import KernelSession
    from grader.kernel.spare import new_scratch
    from grader.sandbox.bwrap import Sandbox

    scratch, paths = new_scratch()
    try:
        probed = instrumented(notebook)
        nbformat.write(probed, paths.workdir / notebook_name)
        sandbox = Sandbox(_slot if slot is None else slot, options.limits, options.kernel) if options.sandbox else None
        with KernelSession(paths, options.limits, sandbox, warm=options.warm_kernels,
                           template_imports=options.kernel_imports) as session:
            execution = session.run_notebook(probed)
            errors = tuple(e.ename for e in execution.cell_errors)
            if execution.status.value != "graded":
                return ProbeResult(execution.status.value, errors, message=execution.message)
            try:
                values = getattr(student_namespace(session.bridge), DIGEST_NAME)
            except StudentCodeError as error:
                return ProbeResult(execution.status.value, errors, message=f"the probe's digest: {error}")
            if not isinstance(values, dict):
                return ProbeResult(execution.status.value, errors, message="the probe's digest is not a dict")
            return ProbeResult(execution.status.value, errors, values)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def probe_all(notebooks: list[nbformat.NotebookNode], notebook_name: str, options: GradingOptions,
              on_done: Callable[[int], None] = lambda index: None) -> list[ProbeResult]:
    """Probe every notebook, `options.jobs` sandboxes side by side; results in input order."""
    results: list[ProbeResult | None] = [None] * len(notebooks)
    if not notebooks:
        return []
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["grader.kernel.execute", "grader.kernel.bridge", "torch", "nbformat"])
    with ProcessPoolExecutor(max_workers=max(1, min(options.jobs, len(notebooks))), mp_context=context,
                             initializer=_init_worker, initargs=(options.limits.torch_threads,)) as pool:
        futures = {pool.submit(probe_notebook, nb, notebook_name, options): i for i, nb in enumerate(notebooks)}
        from concurrent.futures import as_completed

        for future in as_completed(futures):
            index = futures[future]
            try:
                results[index] = future.result()
            except Exception as error:  # noqa: BLE001 - a probe that crashed the worker: graded, not dropped
                results[index] = ProbeResult("probe failed", (), message=f"{type(error).__name__}: {error}")
            on_done(index)
    return [r for r in results if r is not None]


# -- comparing digests ---------------------------------------------------------------------
def differences(a: Any, b: Any, path: str = "") -> list[str]:
    """Where two digests differ (paths of the differing entries); empty when they match."""
    import torch

    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)):
            return [path]
        if a.shape != b.shape or a.dtype != b.dtype:
            return [path]
        if a.dtype == torch.bool or not (a.is_floating_point() or b.is_floating_point()):
            return [] if torch.equal(a, b) else [path]
        return [] if torch.allclose(a.double(), b.double(), rtol=RTOL, atol=ATOL, equal_nan=True) else [path]
    if isinstance(a, float) and isinstance(b, (int, float)) and not isinstance(b, bool) or \
            isinstance(b, float) and isinstance(a, (int, float)) and not isinstance(a, bool):
        if type(a) is not type(b):
            return [path]
        if math.isnan(a) and math.isnan(b):
            return []
        return [] if math.isclose(a, b, rel_tol=RTOL, abs_tol=ATOL) else [path]
    if type(a) is not type(b):
        return [path]
    if isinstance(a, dict):
        found = [f"{path}.{k}" for k in set(a) ^ set(b)]
        for key in a.keys() & b.keys():
            found += differences(a[key], b[key], f"{path}.{key}" if path else key)
        return found
    if isinstance(a, (list, tuple)):
        if len(a) != len(b):
            return [path]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in differences(x, y, f"{path}[{i}]")]
    return [] if a == b else [path]


def reached(reference: ProbeResult, mutant: Mutant) -> bool:
    """Whether the reference's probe ran any line of the mutated node (a mutant of code no probe
    runs would look equivalent whatever it does)."""
    lines = reference.values.get(COVERAGE, {}).get(str(mutant.cell_index), [])
    return any(mutant.line <= line <= mutant.end_line for line in lines)


def verdict(reference: ProbeResult, mutant: ProbeResult, unstable: set[str]) -> Verdict:
    if not mutant.ok:
        return Verdict(False, mutant.message or f"the notebook ended {mutant.status}")
    if mutant.errors != reference.errors:
        return Verdict(False, f"cells raised {list(mutant.errors)} instead of {list(reference.errors)}")
    for key in sorted(set(reference.values) | set(mutant.values)):
        if key in unstable or key == COVERAGE:
            continue
        if key not in reference.values or key not in mutant.values:
            return Verdict(False, f"{key} only in the {'mutant' if key in mutant.values else 'reference'}")
        found = differences(reference.values[key], mutant.values[key], key)
        if found:
            return Verdict(False, f"{found[0]} differs")
    return Verdict(True, "every probed value matches the reference")


def unstable_keys(first: ProbeResult, second: ProbeResult) -> set[str]:
    """Digest entries that differ between two runs of the same notebook (left out of comparisons)."""
    keys = set(first.values) | set(second.values)
    return {k for k in keys if k not in first.values or k not in second.values
            or differences(first.values[k], second.values[k], k)}


def equivalence_verdicts(reference: nbformat.NotebookNode, mutants: list[Mutant], notebook_name: str,
                         options: GradingOptions, on_done: Callable[[int], None] = lambda index: None
                         ) -> tuple[dict[str, Verdict], str, bool]:
    """A verdict per mutant id, a note on the reference's probe ("" when it went well), and
    whether the reference could be probed (if not, no verdict says equivalent)."""
    notebooks = [reference, reference] + [m.notebook(reference) for m in mutants]
    results = probe_all(notebooks, notebook_name, options,
                        on_done=lambda index: on_done(index - 2) if index >= 2 else None)
    first, second, rest = results[0], results[1], results[2:]
    if not (first.ok and second.ok):
        note = f"the reference's probe failed ({first.message or second.message}); no mutant is dropped as equivalent"
        return {m.id: Verdict(False, "the reference could not be probed") for m in mutants}, note, False
    unstable = unstable_keys(first, second)
    note = f"{len(unstable)} of {len(first.values)} probed values vary between runs of the reference and are not compared" \
        if unstable else ""
    verdicts = {m.id: verdict(first, result, unstable) if reached(first, m) else UNREACHED
                for m, result in zip(mutants, rest)}
    unreached = sum(v is UNREACHED for v in verdicts.values())
    if unreached:
        note = "; ".join(filter(None, [note, f"{unreached} mutants are on lines no probe ran: graded, never dropped"]))
    return verdicts, note, True
