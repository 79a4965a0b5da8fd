"""The students' environment (course.yaml `packages:`), in the real sandbox: the kernel runs it and
nothing of the grader's own; a notebook's figures reach the TA's student page as images.

Needs the environment built (`grade env build`, which scripts/setup.sh runs).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import nbformat
import pytest

from grader.course.config import load_course_config
from grader.course.environment import for_course
from grader.kernel.execute import KernelSession
from grader.kernel.spare import new_scratch
from grader.kinds import load_course
from grader.models import Status
from grader.pipeline.folder import RunRequest, grade_folder
from grader.reports.text import page_name
from grader.sandbox.bwrap import Limits, Sandbox, claim_slot
from grader.sandbox.interpreter import Interpreter
from tests.conftest import REPO, requires_sandbox

pytestmark = [pytest.mark.sandbox, requires_sandbox]

NB05 = REPO / "reference" / "05_attention_mechanism" / "05_attention_mechanism.ipynb"
PLOT = ("import matplotlib.pyplot as plt\n"
        "weights = scaled_dot_product_attention(torch.randn(1, 4, 8), torch.randn(1, 4, 8), torch.randn(1, 4, 8))[1]\n"
        "plt.imshow(weights[0].detach())\nplt.title('attention weights')\nplt.show()\n")
PROBE = ("import sys, importlib.util, tempfile, matplotlib\n"
         "print('prefix', sys.prefix)\n"
         "print('backend', matplotlib.get_backend())\n"
         "print('tmp', tempfile.mkstemp()[1])\n"
         "print('server-side', [m for m in ('sqlalchemy', 'starlette', 'dask', 'grader') if importlib.util.find_spec(m)])\n")


@pytest.fixture(scope="module")
def kernel_python() -> Interpreter:
    environment = for_course(load_course_config(REPO))
    assert environment is not None, "course.yaml lists the students' packages"
    if not environment.built():
        pytest.fail(f"the students' environment is not built at {environment.folder}: run `grade env build` "
                    "(scripts/setup.sh does)")
    return environment.interpreter()


def test_the_sandboxed_kernel_runs_the_courses_environment_and_nothing_of_the_graders(
        kernel_python: Interpreter) -> None:
    slot, lock = claim_slot()
    scratch, paths = new_scratch()
    try:
        limits = Limits(cell_timeout_s=60, submission_timeout_s=120)
        notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(PROBE)])
        with KernelSession(paths, limits, Sandbox(slot, limits, kernel_python)) as session:
            execution = session.run_notebook(notebook)
    finally:
        os.close(lock)
        shutil.rmtree(scratch, ignore_errors=True)
    assert execution.status is Status.GRADED and not execution.cell_errors, execution.message
    out = execution.output_excerpt
    assert f"prefix {kernel_python.executable.parent.parent}" in out, out
    # headless, figures as display outputs; /tmp its own and writable; no grader package importable
    assert "backend module://matplotlib_inline.backend_inline" in out and "tmp /tmp/tmp" in out, out
    assert "server-side []" in out and not execution.signals, out


def test_a_plot_costs_nothing_and_shows_on_the_students_page(tmp_path: Path, kernel_python: Interpreter) -> None:
    notebook = nbformat.read(NB05, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(PLOT))
    (tmp_path / "subs" / "plotter").mkdir(parents=True)
    nbformat.write(notebook, tmp_path / "subs" / "plotter" / NB05.name)
    request = RunRequest(path=tmp_path / "subs", db=str(tmp_path / "g.db"), reports_dir=tmp_path / "reports",
                         timeout_s=180, cell_timeout_s=60, jobs=1, only=frozenset({"05_attention_mechanism"}))
    outcome = grade_folder(request, load_course(REPO))
    (grade,) = outcome.result.grades
    tests_points = sum(t.max_points for t in grade.tests)  # the written answers await a TA
    assert grade.status is Status.GRADED and grade.score == tests_points and grade.awaiting_manual, grade.message
    assert grade.execution is not None and [f.mime for f in grade.execution.figures] == ["image/png"]
    assert not grade.execution.signals, grade.execution.signals  # plotting is nothing suspicious
    assert grade.execution.figures[0].cell == sum(c.cell_type == "code" for c in notebook.cells)

    page = (tmp_path / "reports" / "students" / page_name("plotter")).read_text()
    images = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert images == [grade.execution.figures[0].data]
