"""Students' written answers, read on the trusted side for the rubric's manual parts: never executed.

A notebook's written-answer cell is a markdown cell whose metadata is `{"grade": {"written": ID}}`;
the release ships it with the text YOUR ANSWER HERE. A student's notebook may have lost the metadata
(copied cells, another editor): then the answer is the cell right after the markdown cell that says
`Written answer (ID)`. The homework's answer is a file at the submission's root (REPORT.md), read as
a regular file only (never through a symlink) and only its first bytes. An answer left as the
placeholder, or empty, is no answer (None). Every answer is cut at MAX_ANSWER characters, with a note.
Answers are markdown; whoever shows one renders it sanitised (they are hostile input like all else).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from grader.models import ManualPart, ManualResult

PLACEHOLDER = "YOUR ANSWER HERE"
MAX_ANSWER = 20_000  # characters: a page or two of prose is plenty, and the gradebook stays small
MAX_FILE_BYTES = 4 * MAX_ANSWER  # UTF-8 is at most 4 bytes a character: nothing past this is ever kept
CUT_NOTE = "\n\n[… the answer was cut here: only its first {limit:,} characters are kept for grading]"


def clean_answer(text: str) -> str | None:
    """The answer as stored: None for an empty one or the placeholder left as it was; cut at MAX_ANSWER."""
    text = text.replace(PLACEHOLDER, "").strip() if PLACEHOLDER in text else text.strip()
    if not text:
        return None
    if len(text) > MAX_ANSWER:
        return text[:MAX_ANSWER] + CUT_NOTE.format(limit=MAX_ANSWER)
    return text


def notebook_answers(notebook: Mapping[str, Any] | None, parts: Iterable[ManualPart]) -> tuple[ManualResult, ...]:
    """Each manual part with the notebook's answer to it (None: no notebook, no cell, or not answered)."""
    cells = list((notebook or {}).get("cells") or [])
    return tuple(ManualResult(part, _cell_answer(cells, part.answer)) for part in parts)


def written_ids(notebook: Mapping[str, Any]) -> set[str]:
    """The ids of a notebook's written-answer cells (what a rubric's manual parts may name)."""
    return {found for cell in notebook.get("cells") or [] if (found := _written_id(cell)) is not None}


def _cell_answer(cells: list[Any], answer_id: str) -> str | None:
    marked = [cell for cell in cells if _written_id(cell) == answer_id]
    if not marked:  # the metadata was lost: the cell after the question that names the answer
        label = f"Written answer ({answer_id})"
        marked = [cells[i + 1] for i, cell in enumerate(cells[:-1])
                  if _is_markdown(cell) and label in _source(cell) and _written_id(cells[i + 1]) is None]
    for cell in marked:  # a cell copied twice: the first one with an answer
        found = clean_answer(_source(cell))
        if found is not None:
            return found
    return None


def _written_id(cell: Any) -> str | None:
    metadata = cell.get("metadata") if isinstance(cell, Mapping) else None
    grade = metadata.get("grade") if isinstance(metadata, Mapping) else None
    written = grade.get("written") if isinstance(grade, Mapping) else None
    return written if isinstance(written, str) and _is_markdown(cell) else None


def _is_markdown(cell: Any) -> bool:
    return isinstance(cell, Mapping) and cell.get("cell_type") == "markdown"


def _source(cell: Any) -> str:
    source = cell.get("source", "") if isinstance(cell, Mapping) else ""
    if isinstance(source, list):  # the on-disk form: a list of lines
        source = "".join(s for s in source if isinstance(s, str))
    return source if isinstance(source, str) else ""


def file_answers(root: Path | None, parts: Iterable[ManualPart]) -> tuple[ManualResult, ...]:
    """Each manual part with the file it names at `root` (None: no root, no such regular file, or empty)."""
    return tuple(ManualResult(part, None if root is None else read_answer_file(root / part.answer)) for part in parts)


def read_answer_file(path: Path) -> str | None:
    """A file's text as an answer: a regular file only (a symlink could point at the grader's own files),
    its first MAX_FILE_BYTES only, undecodable bytes replaced."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError:  # absent, or a symlink
        return None
    with os.fdopen(fd, "rb") as handle:
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):  # a FIFO or a device would block or never end
                return None
            data = handle.read(MAX_FILE_BYTES + 1)
        except OSError:
            return None
    text = data[:MAX_FILE_BYTES].decode("utf-8", errors="replace")
    if len(data) > MAX_FILE_BYTES and len(text) <= MAX_ANSWER:
        text += CUT_NOTE.format(limit=len(text))
    return clean_answer(text)
