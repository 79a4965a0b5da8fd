"""checks/runner.py: test files that do not collect are the course's fault, named with the file and the line."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.checks.runner import collect_tests, raise_for_collection
from grader.errors import InstructorError


def write(root: Path, name: str, text: str) -> Path:
    path = root / "tests" / "hidden" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_every_file_that_does_not_import_is_named_with_its_error_and_line(tmp_path: Path) -> None:
    good = write(tmp_path, f"test_{tmp_path.name}_good.py", "def test_fine():\n    pass\n")
    missing = write(tmp_path, f"test_{tmp_path.name}_import.py", "import os\nimport no_such_helper_module\n")
    syntax = write(tmp_path, f"test_{tmp_path.name}_syntax.py", "def test_a():\n    return [1, 2\n")
    plugin = collect_tests([good, missing, syntax], rootdir=tmp_path)
    assert plugin.collected == ["test_fine"]
    with pytest.raises(InstructorError) as info:
        raise_for_collection(plugin, tmp_path)
    message = str(info.value)
    assert f"{missing}: ModuleNotFoundError: No module named 'no_such_helper_module' (line 2)" in message
    assert f"{syntax}: SyntaxError: '[' was never closed (line 2)" in message
    assert str(good) not in message


def test_an_error_raised_in_an_imported_helper_gives_the_test_files_line(tmp_path: Path) -> None:
    (tmp_path / f"helper_{tmp_path.name}.py").write_text("VALUE = 1\nraise RuntimeError('helper broke')\n")
    test = write(tmp_path, f"test_{tmp_path.name}.py",
                 f"import sys\nsys.path.insert(0, {str(tmp_path)!r})\nimport helper_{tmp_path.name}\n")
    plugin = collect_tests([test], rootdir=tmp_path)
    with pytest.raises(InstructorError, match=r"RuntimeError: helper broke \(line 3\)"):
        raise_for_collection(plugin, tmp_path)


def test_no_test_files_collect_nothing_rather_than_the_working_folder(tmp_path: Path) -> None:
    plugin = collect_tests([], rootdir=tmp_path)
    assert plugin.collected == [] and plugin.collection_errors == []
    raise_for_collection(plugin, tmp_path)
