"""`grade release`: the student edition of the course, written to a folder.

What goes out: every notebook with its solutions and model answers stripped (grader.students.strip), the public
tests (never tests/hidden), each assignment's points per part (never the hidden tests'
names), the homework's training data, a README, pinned requirements (the course's `packages:`
and a wheel of this grade, grader/students/wheel.py), a pytest config for
grade's pytest plugin, and a GitHub workflow that runs `grade check --ci` on pull requests.

`.grade/release.json` records the SHA-256 of the public tests and points.yaml; the workflow
pins the same hash, so CI refuses an edited copy of the tests (or takes them from the
release repository itself). Nothing is copied from a folder wholesale: each file is chosen.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.metadata
import json
import re
import shutil
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import jinja2
import nbformat
import yaml

from grader import __version__
from grader.course.assignments import Assignment, Course
from grader.errors import GradeError
from grader.students.strip import strip_solutions
from grader.students.wheel import WHEELS, copy_wheel, wheel_name

FILES = Path(__file__).with_name("release_files")
MANIFEST = Path(".grade/release.json")
POINTS = Path("points.yaml")
TESTS = Path("tests")
TORCH_VERSION = "2.13.0"  # grade's own pin (pyproject.toml); a course.yaml `torch:` replaces it


@dataclass(frozen=True)
class ReleaseOptions:
    out: Path
    # How students install grade; "": a wheel of this grade inside the release (grader/students/wheel.py).
    # Or e.g. "grade @ git+https://...@v0.2.0".
    grade_requirement: str = ""
    release_repository: str = ""  # owner/name of the release repo; CI then checks its tests out
    release_ref: str = ""  # the tag or commit of that repo
    python_version: str = f"{sys.version_info.major}.{sys.version_info.minor}"
    course_title: str = ""  # "": the course.yaml title


@dataclass(frozen=True)
class ReleasedAssignment:
    name: str
    title: str
    notebook: str
    kind: str
    total: float
    tests: str  # folder of its public tests, relative to the release root ("" when it has none)
    data: tuple[str, ...]  # released data files, relative to the release root
    notebook_code_sha256: str  # of the released code cells: tells an untouched notebook from a started one


@dataclass(frozen=True)
class Release:
    root: Path
    assignments: tuple[ReleasedAssignment, ...]
    public_tests_sha256: str
    files: tuple[Path, ...]  # every file written, relative to root


def build_release(course: Course, options: ReleaseOptions) -> Release:
    """Write the student edition of `course` to options.out (which must be empty or absent)."""
    out = options.out
    if out.exists() and any(out.iterdir()):
        raise GradeError(f"{out} is not empty; give `grade release --out` a new or empty folder")
    if bool(options.release_repository) != bool(options.release_ref):
        raise GradeError("give --release-repository and --release-ref together (e.g. course/release and v1)")
    out.mkdir(parents=True, exist_ok=True)
    released = tuple(_release_assignment(a, out) for a in sorted(course.assignments.values(), key=lambda a: a.name))
    points = {a.name: _points(course.assignments[a.name], a) for a in released}
    (out / POINTS).write_text(
        "# Points per part. The public tests in tests/ earn the points listed with them; the rest of\n"
        "# each part's points come from hidden tests your instructor runs. Written by `grade release`.\n"
        + yaml.safe_dump(points, sort_keys=False, allow_unicode=True))
    (out / "POINTS.md").write_text(_points_markdown(points))
    digest = public_tests_sha256(out)
    wheel = None if options.grade_requirement else copy_wheel(out / WHEELS)
    grade_line = options.grade_requirement or f"./{WHEELS.as_posix()}/{wheel_name()}"
    context = {
        "assignments": released, "public_tests_sha256": digest, "torch_version": torch_version(course),
        "python_version": options.python_version, "release_repository": options.release_repository,
        "release_ref": options.release_ref, "course_title": options.course_title or course.title,
        "has_data": any(a.data for a in released), "written_files": written_files(course), "requirements": requirements(grade_line, course),
        "grade_wheel": f"{WHEELS.as_posix()}/{wheel.name}" if wheel else "",
        "grade_wheel_sha256": hashlib.sha256(wheel.read_bytes()).hexdigest() if wheel else "",
    }
    _render("README.md.j2", out / "README.md", context)
    _render("requirements.txt.j2", out / "requirements.txt", context)
    _render("grade.yml.j2", out / ".github/workflows/grade.yml", context)
    shutil.copyfile(FILES / "pytest.ini", out / "pytest.ini")
    shutil.copyfile(FILES / "gitignore", out / ".gitignore")
    manifest = {"grade_version": __version__, "grade_requirement": grade_line,
                "grade_wheel_sha256": context["grade_wheel_sha256"],
                "public_tests_sha256": digest, "release_repository": options.release_repository,
                "release_ref": options.release_ref, "assignments": [asdict(a) for a in released]}
    (out / MANIFEST).parent.mkdir(exist_ok=True)
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    files = tuple(sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file()))
    return Release(root=out, assignments=released, public_tests_sha256=digest, files=files)


def _release_assignment(assignment: Assignment, out: Path) -> ReleasedAssignment:
    rubric = assignment.rubric
    notebook = strip_solutions(nbformat.read(assignment.reference_notebook, as_version=4), assignment.name)
    for index, cell in enumerate(notebook.cells):  # stable ids: a release is reproducible, nbformat 4.5 valid
        cell.setdefault("id", f"{assignment.name[:40]}-{index}")
    nbformat.write(notebook, out / rubric.notebook)
    tests = ""
    public = public_test_files(assignment)
    if public:
        _check_public_tests(assignment, public)
        tests = str(TESTS / assignment.name)
        (out / tests).mkdir(parents=True)
        for path in public:
            shutil.copyfile(path, out / tests / path.name)
    data = assignment.kind.release_data(assignment, out)
    return ReleasedAssignment(name=assignment.name, title=rubric.title, notebook=rubric.notebook, kind=assignment.kind.name,
                              total=rubric.max_score, tests=tests, data=data,
                              notebook_code_sha256=notebook_code_sha256(notebook))


def written_files(course: Course) -> list[str]:
    """The files a TA reads (a manual part's `answer` that names a file, e.g. REPORT.md), as `file`
    (the homework's report); a written-answer cell's id never holds a dot."""
    return sorted({f"`{part.answer}`" for a in course.assignments.values() for part in a.rubric.manual_parts
                   if "." in part.answer})


def public_test_files(assignment: Assignment) -> list[Path]:
    """The public suite: Python files directly in tests/public (test modules and helpers)."""
    folder = assignment.public_tests
    return sorted(p for p in folder.glob("*.py") if p.is_file()) if folder.is_dir() else []


def public_test_names(paths: list[Path]) -> dict[str, set[str]]:
    """test function name -> the `student.<name>` attributes it uses (for annotations)."""
    names: dict[str, set[str]] = {}
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test"):
                names[node.name] = {n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute)
                                    and isinstance(n.value, ast.Name) and n.value.id == "student"}
    return names


def _check_public_tests(assignment: Assignment, paths: list[Path]) -> None:
    """A public test must have points, and must not need what students never get."""
    rubric_tests = assignment.rubric.tests
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test"):
                if node.name not in rubric_tests:
                    raise GradeError(f"{path}: public test {node.name} has no points in {assignment.rubric_path}")
                if "reference" in {arg.arg for arg in node.args.args}:
                    raise GradeError(f"{path}: public test {node.name} uses the `reference` fixture, which "
                                     "students do not have; move it to tests/hidden")


def _points(assignment: Assignment, released: ReleasedAssignment) -> dict:
    public = set(public_test_names(public_test_files(assignment)))
    parts = []
    for part in assignment.rubric.parts:
        entry: dict = {"name": part.name, "points": _number(sum(points for _, points in part.tests))}
        shown = {test: _number(points) for test, points in part.tests if test in public}
        if shown:
            entry["public_tests"] = shown
        parts.append(entry)
    for manual in assignment.rubric.manual_parts:  # written answers: the course staff grades them by hand
        parts.append({"name": manual.name, "points": _number(manual.max_points), "graded_by_hand": True,
                      "written": manual.answer})  # the answer cell's id, or the file (REPORT.md) a TA reads
    return {"title": released.title, "notebook": released.notebook, "kind": released.kind,
            "total": _number(released.total), "parts": parts}


def _points_markdown(points: dict) -> str:
    lines = ["# Points", "",
             "Each part's points; the public tests (in `tests/`) earn the points listed with them, the rest",
             "of the part comes from hidden tests your instructor runs. A written part is read by a TA:",
             "the answer cell under its `Written answer (...)` heading, or the file it names.", ""]
    for name, entry in points.items():
        lines += [f"## {entry['title']} (`{entry['notebook']}`): {entry['total']} points", "",
                  "| part | points | public tests |", "| --- | --- | --- |"]
        for part in entry["parts"]:
            public = ", ".join(f"`{t}` ({p})" for t, p in part.get("public_tests", {}).items()) or (
                f"written answer `{part['written']}`, graded by the course staff" if part.get("graded_by_hand")
                else "none")
            lines.append(f"| {part['name']} | {part['points']} | {public} |")
        lines.append("")
    return "\n".join(lines)


def public_tests_sha256(root: Path) -> str:
    """SHA-256 over tests/ and points.yaml of a release (names and bytes): what CI pins."""
    digest = hashlib.sha256()
    files = [p for p in (root / TESTS).rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    for path in sorted([*files, root / POINTS]):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def notebook_code_sha256(notebook: nbformat.NotebookNode) -> str:
    code = "\0".join(c.source.strip() for c in notebook.cells if c.cell_type == "code")
    return hashlib.sha256(code.encode()).hexdigest()


def torch_version(course: Course) -> str:
    """The torch students install: the course's pin, else grade's."""
    return (course.config.torch if course.config else "") or TORCH_VERSION


def requirements(grade_requirement: str, course: Course | None = None) -> list[str]:
    """The course's pinned `packages:` (torch first), the same the grader's kernels run
    (grader/course/environment.py), then grade. A course without `packages:`: torch, grade, and
    grade's own dependencies at the versions installed here."""
    torch = torch_version(course) if course is not None else TORCH_VERSION
    packages = course.config.packages if course is not None and course.config else ()
    if packages:
        pinned_torch = [line for line in packages if line.lower().startswith("torch==")]
        rest = [line for line in packages if line not in pinned_torch]
        return [*(pinned_torch or [f"torch=={torch}"]), *rest, grade_requirement]
    lines = [f"torch=={torch}", grade_requirement]
    try:
        declared = importlib.metadata.requires("grade") or []
    except importlib.metadata.PackageNotFoundError:
        declared = []
    for requirement in declared:
        if "extra ==" in requirement:
            continue
        name = re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0]
        if name.lower() == "torch":
            continue
        try:
            lines.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            lines.append(requirement.split(";")[0].strip())
    return lines


def _render(template: str, dest: Path, context: dict) -> None:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(FILES), undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)
    env.filters["points"] = _number
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(env.get_template(template).render(**context))


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else float(value)
