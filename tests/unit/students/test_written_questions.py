"""The course's written questions: each reference notebook's written-answer cells match its rubric's
manual parts, and the student edition keeps every such cell as `YOUR ANSWER HERE`, never the model
answer. Read from the course in this repository, so the test grows with the course."""

from __future__ import annotations

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
