"""scripts/import_cycles.py, black-box: the real package has no cycle; a lazy one is caught."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import requires_runnable_interpreter

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "import_cycles.py"
pytestmark = requires_runnable_interpreter  # the script runs in a subprocess, as CI and developers run it


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True, timeout=60)


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "pkg"


def test_grader_has_no_import_cycle() -> None:
    result = run("--packages")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.rstrip().endswith(" 0 cycles")
    assert "\nstore " in result.stdout


def test_a_lazy_import_cycle_fails_naming_both_modules(tmp_path: Path) -> None:
    package = write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": "from pkg.b import helper\n",
        "pkg/b.py": "def helper():\n    from pkg import a  # lazy: still a cycle\n    return a\n",
    })
    result = run(package)
    assert result.returncode == 1
    assert "cycle: pkg.a <-> pkg.b" in result.stdout
    assert "pkg.b -> pkg.a  (pkg/b.py:2)" in result.stdout


def test_type_checking_and_relative_imports_count(tmp_path: Path) -> None:
    package = write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/sub/__init__.py": "",
        "pkg/sub/x.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..y import Y\n",
        "pkg/y.py": "import pkg.sub.x\n",
    })
    result = run(package)
    assert result.returncode == 1
    assert "cycle: pkg.sub.x <-> pkg.y" in result.stdout


def test_a_package_init_closes_a_cycle(tmp_path: Path) -> None:
    """Importing pkg.store.schema runs pkg/store/__init__.py, which imports what imports us."""
    package = write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/store/__init__.py": "from pkg.store.book import Book\n",
        "pkg/store/book.py": "from pkg.report import page\n",
        "pkg/store/schema.py": "",
        "pkg/report.py": "from pkg.store.schema import Table\n",
    })
    result = run(package)
    assert result.returncode == 1
    assert "cycle: pkg.report <-> pkg.store <-> pkg.store.book" in result.stdout


def test_packages_prints_the_graph_between_parts(tmp_path: Path) -> None:
    package = write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/models.py": "",
        "pkg/store/__init__.py": "",
        "pkg/store/book.py": "from pkg.models import Grade\n",
        "pkg/cli.py": "from pkg.store import book\n",
    })
    result = run(package, "--packages")
    assert result.returncode == 0
    lines = {" ".join(line.split()) for line in result.stdout.splitlines()}
    assert {"cli -> store", "store -> models", "models -> (nothing)", "__init__ -> (nothing)"} <= lines


def test_parts_that_import_each_other_fail_with_packages(tmp_path: Path) -> None:
    """No module cycle, but store and reports import each other through different modules."""
    package = write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/store/__init__.py": "",
        "pkg/store/book.py": "from pkg.reports import text\n",
        "pkg/store/schema.py": "",
        "pkg/reports/__init__.py": "",
        "pkg/reports/text.py": "",
        "pkg/reports/page.py": "from pkg.store import schema\n",
    })
    assert run(package).returncode == 0
    result = run(package, "--packages")
    assert result.returncode == 1
    assert "parts in one import loop (through different modules): reports, store" in result.stdout
