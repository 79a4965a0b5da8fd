"""What `grade check --ci` leaves for a CI system: JUnit XML, a Markdown step summary, GitHub
annotations on the notebook's cells, and an environment fingerprint.

The fingerprint (Python, torch, transformers, CPU or GPU) is printed and written next to the
results, so a student's laptop, CI and the instructor's run can be compared when they differ.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import re
import sys
import warnings
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import nbformat

from grader import __version__
from grader.models import Grade, Outcome, Status

_XML_BAD = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


@dataclass(frozen=True)
class NotebookResult:
    """One checked notebook: where it is (relative to the repo, for annotations) and its grade."""

    path: Path
    grade: Grade
    names_under_test: dict[str, set[str]]  # test -> student names it calls


def passed(result: NotebookResult) -> bool:
    return result.grade.status is Status.GRADED and all(t.outcome is Outcome.PASSED for t in result.grade.tests)


# -- JUnit -------------------------------------------------------------------------------
def junit_xml(results: list[NotebookResult]) -> str:
    suites = ET.Element("testsuites", name="grade check")
    for result in results:
        tests = result.grade.tests
        suite = ET.SubElement(suites, "testsuite", name=result.grade.assignment, tests=str(len(tests)),
                              failures=str(sum(t.outcome is Outcome.FAILED for t in tests)),
                              errors=str(sum(t.outcome is Outcome.ERROR for t in tests)),
                              skipped=str(sum(t.outcome is Outcome.SKIPPED for t in tests)),
                              time=f"{result.grade.duration_s:.3f}", file=str(result.path))
        for test in tests:
            case = ET.SubElement(suite, "testcase", classname=f"{result.grade.assignment}.{_xml(test.part)}",
                                 name=test.test_id, time=f"{test.duration_s:.3f}", file=str(result.path))
            message = _xml(test.message)
            if test.outcome in (Outcome.FAILED, Outcome.ERROR):
                element = ET.SubElement(case, "failure" if test.outcome is Outcome.FAILED else "error",
                                        message=message[:500], type=test.outcome.value)
                element.text = message
            elif test.outcome is Outcome.SKIPPED:
                ET.SubElement(case, "skipped", message=message[:500])
            ET.SubElement(case, "properties").append(
                ET.Element("property", name="points", value=f"{test.points:g}/{test.max_points:g}"))
    ET.indent(suites)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


def _xml(text: str) -> str:
    return _XML_BAD.sub("?", text)


# -- Markdown summary ----------------------------------------------------------------------
def markdown_summary(results: list[NotebookResult], fingerprint: dict[str, str], notes: list[str]) -> str:
    lines = ["## grade check: public tests", ""]
    for result in results:
        grade = result.grade
        earned = sum(t.points for t in grade.tests)
        possible = sum(t.max_points for t in grade.tests)
        mark = "✅" if passed(result) else "❌"
        lines += [f"### {mark} `{result.path}`: {earned:g}/{possible:g} public points", ""]
        if grade.message:
            lines += [f"> {_cell(grade.message)}", ""]
        lines += ["| test | part | result | points | message |", "| --- | --- | --- | --- | --- |"]
        for test in grade.tests:
            lines.append(f"| `{test.test_id}` | {_cell(test.part)} | {test.outcome.value} | "
                         f"{test.points:g}/{test.max_points:g} | {_cell(test.message)} |")
        lines.append("")
    lines += [f"- {_cell(note)}" for note in notes]
    lines += ["", "Environment: " + ", ".join(f"{k} {v}" for k, v in fingerprint.items()), ""]
    return "\n".join(lines)


def _cell(text: str) -> str:
    """Student text inside a Markdown table cell: one line, no table breaks, no HTML."""
    text = text.replace("\r", " ").replace("\n", " ").replace("|", "\\|")
    return text.replace("<", "&lt;").replace(">", "&gt;")[:400]


# -- GitHub annotations --------------------------------------------------------------------
def annotations(result: NotebookResult) -> list[str]:
    """`::error file=...,line=...::` for each failing test, at the cell that defines what the test
    calls (or else the first cell that raised); a `::warning` for each cell that raised."""
    lines: list[str] = []
    cells = _code_cells(result.path)
    raised = [e for e in (result.grade.execution.cell_errors if result.grade.execution else ())]
    for test in result.grade.tests:
        if test.outcome not in (Outcome.FAILED, Outcome.ERROR):
            continue
        where = next((cells[name] for name in sorted(result.names_under_test.get(test.test_id, ()))
                      if name in cells), None)
        if where is None and raised:
            where = _cell_line(result.path, raised[0].cell)
        cell, line = where or (None, 1)
        title = f"{test.test_id}" + (f" (cell {cell})" if cell else "")
        lines.append(_command("error", result.path, line, title, test.message or test.outcome.value))
    for error in raised[:10]:
        cell, line = _cell_line(result.path, error.cell)
        lines.append(_command("warning", result.path, line, f"cell {cell} raised {error.ename}", error.evalue))
    if result.grade.status is not Status.GRADED:
        lines.append(_command("error", result.path, 1, f"notebook {result.grade.status.value}", result.grade.message))
    return lines


def _read(path: Path) -> nbformat.NotebookNode:
    with warnings.catch_warnings():  # a student's notebook without cell ids is still their notebook
        warnings.simplefilter("ignore")
        return nbformat.read(path, as_version=4)


def _code_cells(path: Path) -> dict[str, tuple[int, int]]:
    """name defined at a cell's top level -> (code cell number, line of that definition in the file)."""
    try:
        notebook = _read(path)
        raw = path.read_text().splitlines()
    except Exception:  # noqa: BLE001 - a notebook that cannot be read gets no cell positions
        return {}
    found: dict[str, tuple[int, int]] = {}
    number = 0
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        number += 1
        for match in re.finditer(r"^(?:def|class)\s+(\w+)", cell.source, re.MULTILINE):
            found.setdefault(match[1], (number, _find_line(raw, match[0])))
    return found


def _cell_line(path: Path, cell: int) -> tuple[int, int]:
    """(cell, line in the file of that code cell's first source line)."""
    try:
        notebook = _read(path)
        raw = path.read_text().splitlines()
        source = [c for c in notebook.cells if c.cell_type == "code"][cell - 1].source
    except Exception:  # noqa: BLE001
        return cell, 1
    first = next((line for line in source.splitlines() if line.strip()), "")
    return cell, _find_line(raw, first.strip()) if first else 1


def _find_line(raw: list[str], text: str) -> int:
    needle = json.dumps(text)[1:-1]
    return next((number for number, line in enumerate(raw, 1) if needle in line), 1)


def _command(kind: str, path: Path, line: int, title: str, message: str) -> str:
    def prop(value: str) -> str:
        return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A").replace(":", "%3A").replace(",", "%2C")

    data = message.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return f"::{kind} file={prop(str(path))},line={line},title={prop(title)}::{data}"


# -- environment ---------------------------------------------------------------------------
def environment_fingerprint(*, sandboxed: bool, tests_sha256: str) -> dict[str, str]:
    """What a result depends on besides the code: versions, hardware, isolation, the tests' hash."""
    def version(name: str) -> str:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return "not installed"

    fingerprint = {
        "grade": __version__,
        "python": f"{platform.python_implementation()} {sys.version.split()[0]}",
        "platform": f"{platform.system()} {platform.release()} {platform.machine()}",
        "cpu": _cpu_model(),
        "cpus": str(os.cpu_count() or 1),
        "torch": version("torch"),
        "transformers": version("transformers"),
        "numpy": version("numpy"),
        "gpu": _gpu(),
        "sandbox": "yes" if sandboxed else "no",
    }
    if tests_sha256:
        fingerprint["public_tests_sha256"] = tests_sha256
    return fingerprint


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _gpu() -> str:
    if "torch" not in sys.modules:  # importing torch only to look for a GPU costs a second
        return "not checked"
    torch = sys.modules["torch"]
    if torch.cuda.is_available():
        return f"{torch.cuda.get_device_name(0)} (CUDA {torch.version.cuda})"
    return "none"
