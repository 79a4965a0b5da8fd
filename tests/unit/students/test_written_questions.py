"""The course's written questions: each reference notebook's written-answer cells match its rubric's
manual parts, and the student edition keeps every such cell as `YOUR ANSWER HERE`, never the model
answer. Read from the course in this repository, so the test grows with the course."""

from __future__ import annotations

import json
import re

import nbformat
import pytest

from grader.kinds import load_course
from grader.students.strip import WRITTEN_PLACEHOLDER, strip_solutions, written_answers, written_id
from tests.conftest import REPO

COURSE = load_course(REPO)
NOTEBOOKS = sorted(name for name, a in COURSE.assignments.items() if a.rubric.kind == "notebook")
MIN_LINE = 24  # characters: a model answer's line this long is specific enough to count as leaked


def reference(name: str) -> nbformat.NotebookNode:
    return nbformat.read(COURSE.assignments[name].reference_notebook, as_version=4)


def test_every_notebook_of_the_course_has_a_written_question() -> None:
    assert len(NOTEBOOKS) == 7
    assert all(written_answers(reference(name), name) for name in NOTEBOOKS)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_the_reference_written_ids_are_the_rubrics_manual_parts(name: str) -> None:
    answers = written_answers(reference(name), name)
    parts = COURSE.assignments[name].rubric.manual_parts
    assert list(answers) == [part.answer for part in parts], (
        f"{name}: the notebook's written cells and rubrics/{name}.yaml's manual parts differ")
    assert all(text.strip() and text.strip() != WRITTEN_PLACEHOLDER for text in answers.values()), (
        f"{name}: the reference holds no model answer for a TA to compare with")


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_each_question_above_its_answer_states_the_parts_points(name: str) -> None:
    """The question cell right above the answer carries the `Written answer (<id>)` heading (the
    grader's fallback when the metadata is lost) and the points the rubric gives."""
    cells = reference(name).cells
    points = {part.answer: part.max_points for part in COURSE.assignments[name].rubric.manual_parts}
    for index, cell in enumerate(cells):
        answer = written_id(cell)
        if answer is None:
            continue
        question = cells[index - 1].source
        assert f"Written answer ({answer})" in question, f"{name}: no question heading above {answer}"
        stated = re.search(r"\((\d+) points?, read by a TA\)", question)
        assert stated and float(stated[1]) == points[answer], f"{name} {answer}: {question[:200]}"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_the_release_keeps_each_written_cell_with_the_placeholder_and_no_model_answer(name: str) -> None:
    original = reference(name)
    answers = written_answers(original, name)
    released = strip_solutions(original, name)
    kept = {written_id(cell): cell for cell in released.cells if written_id(cell) is not None}
    assert list(kept) == list(answers)
    for cell in kept.values():
        assert cell.cell_type == "markdown" and cell.source == WRITTEN_PLACEHOLDER
    text = nbformat.writes(released)
    strings = "\n".join(cell.source for cell in released.cells)
    model_lines = {line.strip() for answer in answers.values() for line in answer.splitlines()
                   if len(line.strip()) >= MIN_LINE}
    assert model_lines, f"{name}: no model answer line long enough to look for; the test would prove nothing"
    leaked = sorted(line for line in model_lines if line in strings or line in text)
    assert not leaked, f"{name}: the release holds model answer lines: {leaked[:3]}"


def test_the_homework_asks_for_the_report_its_rubric_grades() -> None:
    homework = next(a for a in COURSE.assignments.values() if a.rubric.kind == "model")
    (part,) = homework.rubric.manual_parts
    assert part.answer == "REPORT.md" and part.name == "Evaluation report"
    assert {"what_finetuned", "evaluation", "error_analysis"} <= {item.id for item in part.items}
    instructions = "\n".join(c.source for c in reference(homework.name).cells if c.cell_type == "markdown")
    assert "`REPORT.md`" in instructions and "Error analysis" in instructions
    assert f"| {part.max_points:g} | your evaluation report" in instructions


def demo_answers(student: str, name: str) -> dict[str, str]:
    """A demo notebook's answers: by metadata id, else the cell after a `Written answer (<id>)` heading."""
    cells = nbformat.read(REPO / "submissions" / student / f"{name}.ipynb", as_version=4).cells
    found = {}
    for index, cell in enumerate(cells):
        heading = re.search(r"Written answer \(([a-z0-9_]+)\)", cell.source)
        if written_id(cell) is not None:
            found[written_id(cell)] = cell.source
        elif heading and index + 1 < len(cells) and heading[1] not in found:
            found.setdefault(heading[1], cells[index + 1].source)
    return found


def test_the_demo_class_answers_as_the_readme_says() -> None:
    """Good answers (ada), the released text (jo), hostile HTML (kim), a cell that lost its metadata
    (eli, found by its heading), every notebook holding every question of its reference."""
    for student_dir in sorted((REPO / "submissions").iterdir()):
        for notebook in sorted(student_dir.glob("*.ipynb")):
            name = notebook.stem
            expected = list(written_answers(reference(name), name))
            assert list(demo_answers(student_dir.name, name)) == expected, notebook
            if student_dir.name == "jo_unfilled":
                assert set(demo_answers("jo_unfilled", name).values()) == {WRITTEN_PLACEHOLDER}
            if student_dir.name == "ada_lovelace":
                assert WRITTEN_PLACEHOLDER not in demo_answers("ada_lovelace", name).values()
    hostile = demo_answers("kim_cheater", "05_attention_mechanism")["why_scale"]
    assert "<script>" in hostile and "onerror=" in hostile and "javascript:" in hostile
    eli = nbformat.read(REPO / "submissions/eli_mask_after_softmax/05_attention_mechanism.ipynb", as_version=4)
    assert [written_id(c) for c in eli.cells if written_id(c)] == ["why_scale"]  # mask_before_softmax lost it
    assert demo_answers("eli_mask_after_softmax", "05_attention_mechanism")["mask_before_softmax"].startswith("After")
    report = (REPO / "submissions/lea_finetuned/REPORT.md").read_text()
    assert all(section in report for section in ("## What I fine-tuned", "## How I evaluated it", "## Error analysis"))


def test_the_grader_reads_the_demo_answers_it_should() -> None:
    """The trusted side's reader (grader/written_answers.py) on the demo notebooks: ada's answers, jo's
    placeholder as no answer, eli's answer found by its heading, kim's HTML kept as text to escape."""
    from grader.written_answers import notebook_answers

    def read(student: str, name: str) -> dict[str, str | None]:
        notebook = json.loads((REPO / "submissions" / student / f"{name}.ipynb").read_text())
        return {r.part.answer: r.answer for r in notebook_answers(notebook, COURSE.assignments[name].rubric.manual_parts)}

    for name in NOTEBOOKS:
        assert all(read("ada_lovelace", name).values()), name
        assert set(read("jo_unfilled", name).values()) == {None}, name
    eli = read("eli_mask_after_softmax", "05_attention_mechanism")
    assert eli["why_scale"] is None and eli["mask_before_softmax"].startswith("After the softmax")
    assert "<img src=\"x\" onerror=" in read("kim_cheater", "05_attention_mechanism")["why_scale"]
