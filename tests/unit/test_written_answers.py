"""grader/written_answers.py: students' written answers, read from notebook JSON and files, never run."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat

from grader.written_answers import MAX_ANSWER, PLACEHOLDER, clean_answer, file_answers, notebook_answers
from tests.factories import make_manual_part

PART = make_manual_part("why_scale")


def notebook(*cells: nbformat.NotebookNode) -> nbformat.NotebookNode:
    return nbformat.v4.new_notebook(cells=list(cells))


def answer_cell(text: str, answer_id: str = "why_scale") -> nbformat.NotebookNode:
    return nbformat.v4.new_markdown_cell(text, metadata={"grade": {"written": answer_id}})


def question() -> nbformat.NotebookNode:
    return nbformat.v4.new_markdown_cell("**Written answer (why_scale)**: why divide by sqrt(d_k)?")


def test_the_answer_is_the_marked_cell_by_its_id() -> None:
    nb = notebook(question(), nbformat.v4.new_code_cell("x = 1"), answer_cell("Variance grows with d_k."),
                  answer_cell("Other answer", "why_freeze"))
    (found,) = notebook_answers(nb, [PART])
    assert found.part == PART and found.answer == "Variance grows with d_k." and found.grade is None


def test_the_placeholder_or_nothing_is_no_answer() -> None:
    assert notebook_answers(notebook(answer_cell(PLACEHOLDER)), [PART])[0].answer is None
    assert notebook_answers(notebook(answer_cell("  \n")), [PART])[0].answer is None
    assert notebook_answers(notebook(question()), [PART])[0].answer is None  # no answer cell at all
    assert notebook_answers(None, [PART])[0].answer is None  # a package: no notebook
    assert clean_answer(f"{PLACEHOLDER}\n\nMy answer") == "My answer"


def test_a_cell_that_lost_its_metadata_is_found_after_the_question() -> None:
    lost = nbformat.v4.new_markdown_cell("Because the dot products grow.")
    assert notebook_answers(notebook(question(), lost), [PART])[0].answer == "Because the dot products grow."


def test_the_on_disk_form_with_source_lines_and_hostile_shapes_are_read_safely() -> None:
    raw = {"cells": [{"cell_type": "markdown", "metadata": {"grade": {"written": "why_scale"}},
                      "source": ["<script>alert(1)</script>\n", "line two", 3]},
                     {"cell_type": "markdown", "metadata": {"grade": "oops"}, "source": None}, "not a cell"]}
    assert notebook_answers(raw, [PART])[0].answer == "<script>alert(1)</script>\nline two"  # stored as is: escaped when shown
    assert notebook_answers({"cells": "nope"}, [PART])[0].answer is None


def test_a_code_cell_with_the_metadata_is_not_an_answer() -> None:
    code = nbformat.v4.new_code_cell("print('hi')", metadata={"grade": {"written": "why_scale"}})
    assert notebook_answers(notebook(code), [PART])[0].answer is None


def test_a_long_answer_is_cut_with_a_note() -> None:
    (found,) = notebook_answers(notebook(answer_cell("a" * (MAX_ANSWER + 500))), [PART])
    assert found.answer.startswith("a" * MAX_ANSWER) and "cut here" in found.answer
    assert len(found.answer) < MAX_ANSWER + 200


def test_a_report_file_is_read_as_a_regular_file_only(tmp_path: Path) -> None:
    report = make_manual_part("REPORT.md")
    (tmp_path / "REPORT.md").write_bytes("# Report\nI fine-tuned DistilBERT. \xff".encode("latin-1"))
    (found,) = file_answers(tmp_path, [report])
    assert found.answer.startswith("# Report\nI fine-tuned DistilBERT.") and "\ufffd" in found.answer

    secret = tmp_path / "secret.txt"
    secret.write_text("held-out labels")
    (tmp_path / "REPORT.md").unlink()
    os.symlink(secret, tmp_path / "REPORT.md")
    assert file_answers(tmp_path, [report])[0].answer is None
    (tmp_path / "REPORT.md").unlink()
    os.mkfifo(tmp_path / "REPORT.md")  # would block a plain open() forever
    assert file_answers(tmp_path, [report])[0].answer is None
    assert file_answers(None, [report])[0].answer is None
    assert file_answers(tmp_path / "nowhere", [report])[0].answer is None


def test_a_huge_report_is_read_only_in_part(tmp_path: Path) -> None:
    (tmp_path / "REPORT.md").write_text("b" * 10_000_000)
    (found,) = file_answers(tmp_path, [make_manual_part("REPORT.md")])
    assert len(found.answer) < MAX_ANSWER + 200 and "cut here" in found.answer
