"""`grade new`: a working assignment scaffolded under the course root, from grader/course/scaffold_files/.

A notebook assignment gets a reference notebook with one exercise between solution markers, a
public and a hidden test, a rubric giving each its points, and an empty mutants.yaml with a
commented example; a model assignment gets a rubric of kind `model` whose settings point at two
tiny CSV files written beside it. Either one passes `grade validate` as written, so the
instructor starts from something sound and changes it a piece at a time. The assignment is
appended to course.yaml's `assignments:` by editing the text (the instructor's comments stay);
a course without course.yaml gets a minimal one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from string import Template

import nbformat
import yaml

from grader.course.config import COURSE_FILE, load_course_config
from grader.course.mutants import MUTANTS_FILE
from grader.course.rubric import load_rubric
from grader.errors import GradeError, InstructorError, course_file

FILES = Path(__file__).with_name("scaffold_files")
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_]{0,63}")


class ScaffoldKind(StrEnum):
    """What `grade new --kind` can scaffold (the template folder under scaffold_files/)."""

    NOTEBOOK = "notebook"
    MODEL = "model"


@dataclass(frozen=True)
class Scaffold:
    assignment: str
    written: tuple[Path, ...]  # every file created, in the order written
    course_yaml: str  # what happened to course.yaml: "created", "appended", or why it was left alone


def new_assignment(course_root: Path, name: str, kind: ScaffoldKind = ScaffoldKind.NOTEBOOK) -> Scaffold:
    """Write a new assignment NAME of `kind` under course_root; refuse to overwrite anything."""
    if not NAME.fullmatch(name):
        raise GradeError(f"{name!r} is not a valid assignment name: use letters, digits and underscores "
                         "(up to 64), starting with a letter or digit, e.g. 08_layer_norm")
    course_root.mkdir(parents=True, exist_ok=True)
    taken = [p for p in (course_root / "rubrics" / f"{name}.yaml", course_root / "reference" / name,
                         course_root / "data" / name) if p.exists()]
    taken += [p for p in sorted((course_root / "rubrics").glob("*.yaml")) if _assignment_of(p) == name]
    if taken:
        raise GradeError(f"assignment {name} already exists ({course_file(taken[0])}); "
                         "pick another name or remove it first")
    course_text = _course_yaml(course_root, name)  # before writing anything: a course.yaml we cannot edit stops here
    values = {"assignment": name, "notebook": f"{name}.ipynb", "title": _title(name)}
    reference = course_root / "reference" / name
    plan: list[tuple[Path, Path]] = [(FILES / kind / "reference.ipynb", reference / f"{name}.ipynb"),
                                     (FILES / kind / "rubric.yaml", course_root / "rubrics" / f"{name}.yaml")]
    if kind is ScaffoldKind.NOTEBOOK:
        plan += [(FILES / kind / "test_public.py.tmpl", reference / "tests" / "public" / f"test_{name}_public.py"),
                 (FILES / kind / "test_hidden.py.tmpl", reference / "tests" / "hidden" / f"test_{name}_hidden.py"),
                 (FILES / kind / "mutants.yaml", reference / MUTANTS_FILE)]
    else:
        plan += [(FILES / kind / "heldout.csv", course_root / "data" / name / "heldout.csv"),
                 (FILES / kind / "train.csv", course_root / "data" / name / "train.csv")]
    written = []
    for template, dest in plan:
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(_render(template, values), encoding="utf-8")
        written.append(dest)
    course_yaml, action = course_text
    if course_yaml is not None:
        (course_root / COURSE_FILE).write_text(course_yaml, encoding="utf-8")
        written.append(course_root / COURSE_FILE)
    return Scaffold(assignment=name, written=tuple(written), course_yaml=action)


def _render(template: Path, values: dict[str, str]) -> str:
    if template.suffix == ".ipynb":  # per cell: a title with quotes must not break the JSON
        notebook = nbformat.read(template, as_version=4)
        for cell in notebook.cells:
            cell.source = Template(cell.source).substitute(values)
        return nbformat.writes(notebook) + "\n"
    return Template(template.read_text(encoding="utf-8")).substitute(values)


def _title(name: str) -> str:
    """08_layer_norm -> Layer norm: a placeholder the instructor edits in the rubric."""
    words = name.split("_")
    if len(words) > 1 and words[0].isdigit():
        words = words[1:]
    text = " ".join(words)
    return text[:1].upper() + text[1:]


def _assignment_of(rubric: Path) -> str | None:
    try:
        return load_rubric(rubric).assignment
    except InstructorError:
        return None


def _course_yaml(course_root: Path, name: str) -> tuple[str | None, str]:
    """(the new text of course.yaml or None to leave it, what happens to it)."""
    path = course_root / COURSE_FILE
    if not path.is_file():
        existing = [a for a in (_assignment_of(p) for p in sorted((course_root / "rubrics").glob("*.yaml"))) if a]
        items = "\n".join(f"  - {a}" for a in [*existing, name])
        text = Template((FILES / COURSE_FILE).read_text(encoding="utf-8")).substitute(
            title=_yaml_string(course_root.resolve().name), assignments=items)
        return text, f"created {course_file(path)}"
    config = load_course_config(course_root)
    if config.assignments is None:
        return None, f"{course_file(path)} grades every rubric: nothing to add"
    if name in config.assignments:
        return None, f"{course_file(path)} already lists {name}"
    text = path.read_text(encoding="utf-8")
    edited = _append_to_list(text, name)
    if edited is None or _assignments_in(edited) != [*config.assignments, name]:
        raise InstructorError(f"{course_file(path)}: could not add {name} to `assignments:`; add it by hand "
                              "and run grade new again")
    return edited, f"added {name} to `assignments:` in {course_file(path)}"


def _append_to_list(text: str, name: str) -> str | None:
    """course.yaml's text with NAME after the last item of `assignments:` (block or flow list); comments kept."""
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if re.match(r"assignments\s*:", line)), None)
    if start is None:
        return None
    flow = re.match(r"(assignments\s*:\s*\[)(.*?)(\]\s*(#.*)?)$", lines[start].rstrip("\n"))
    if flow:
        items = flow[2].rstrip().rstrip(",")
        lines[start] = f"{flow[1]}{items}, {name}{flow[3]}\n"
        return "".join(lines)
    last, indent = None, "  "
    for i in range(start + 1, len(lines)):
        item = re.match(r"(\s*)- ", lines[i])
        if item:
            last, indent = i, item[1]
        elif lines[i].strip() and not lines[i].lstrip().startswith("#"):
            break  # the next key: the list is over
    if last is None:
        return None
    ending = "" if lines[last].endswith("\n") else "\n"
    lines.insert(last + 1, f"{ending}{indent}- {name}\n")
    return "".join(lines)


def _assignments_in(text: str) -> list[str] | None:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    value = data.get("assignments") if isinstance(data, dict) else None
    return value if isinstance(value, list) else None


def _yaml_string(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')
