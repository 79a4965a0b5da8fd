"""The Python a sandboxed process runs, and the folders the sandbox must show it (read-only).

Two of them exist: the grader's own (this process's: the homework scorer, `grade check`,
a course that lists no `packages:`) and a course's kernel environment, built from
course.yaml's `packages:` by `grade env build` (grader/course/environment.py), which is
where a sandboxed student kernel runs. Only the folders named here are mounted: a kernel
running the course's environment does not see the grader's server-side packages.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Interpreter:
    executable: Path  # what the sandbox runs (`-m ipykernel_launcher`, a script)
    prefixes: tuple[Path, ...]  # its environment and the installation it was made from

    @classmethod
    def running(cls) -> "Interpreter":
        """This process's Python: the grader's own environment."""
        prefixes = {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()}
        return cls(Path(sys.executable), tuple(sorted(prefixes)))
