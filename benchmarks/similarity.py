"""Similarity: `grade similarity` on a class of 300 notebook-05 submissions, timed by stage.

Run: .venv/bin/python benchmarks/similarity.py [--students 300]   (no sandbox, no GPU; under a minute on 2 cores)

The class comes from tests/similarity_class.py: each student writes the six parts of the
attention notebook in one of five ways, chosen at random (seeded), and every tenth student
hands in a copy of an earlier one (renamed, reordered, comments and spacing changed). Prints
the seconds to build the class (not part of the check), to read the notebooks, to fingerprint
them, to compare every pair, and the whole `grade similarity --format json` command as an
instructor runs it; and how many of the copies rank above the threshold. The count of all
flagged pairs says little here: with five ways per part, about one random pair in ten writes
three or more of the six parts the same way (half the notebook, identical after
normalisation). Also prints the machine's load (`uptime`): on a shared machine the figures
are noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from grader.kinds import load_course  # noqa: E402
from grader.similarity.compare import Fingerprinter, compare_class  # noqa: E402
from grader.similarity.run import DEFAULT_THRESHOLD  # noqa: E402
from grader.similarity.sources import read_class, scaffold  # noqa: E402
from tests.similarity_class import ASSIGNMENT, build_big_class  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=300)
    args = parser.parse_args()
    print("load:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    with tempfile.TemporaryDirectory(prefix="grade-similarity-bench-") as scratch:
        root = Path(scratch) / "class"
        started = time.perf_counter()
        copies = build_big_class(root, args.students)
        print(f"built {args.students} notebooks ({len(copies)} copies) in {time.perf_counter() - started:.1f} s")

        course = load_course(REPO)
        assignment = course.assignments[ASSIGNMENT]
        started = time.perf_counter()
        documents, skipped = read_class(root, assignment, course)
        read_s = time.perf_counter() - started
        started = time.perf_counter()
        fingerprinter = Fingerprinter(*scaffold(assignment))
        fingerprints = [fingerprinter.fingerprint(d) for d in documents]
        fingerprint_s = time.perf_counter() - started
        started = time.perf_counter()
        pairs = compare_class(fingerprints)
        compare_s = time.perf_counter() - started
        print(f"read {len(documents)} notebooks ({len(skipped)} skipped): {read_s:.2f} s")
        print(f"fingerprint: {fingerprint_s:.2f} s ({1000 * fingerprint_s / len(documents):.1f} ms per notebook)")
        print(f"compare {len(pairs)} pairs: {compare_s:.2f} s ({1e6 * compare_s / len(pairs):.0f} us per pair)")

        flagged = {(p.a, p.b) for p in pairs if p.score >= DEFAULT_THRESHOLD}
        found = sum(1 for pair in copies if tuple(sorted(pair)) in flagged)
        print(f"copies flagged at {DEFAULT_THRESHOLD}: {found} of {len(copies)}; pairs flagged in all: {len(flagged)}")

        command = [sys.executable, "-c", "from grader.cli import main; main()", "similarity", str(root),
                   "--assignment", ASSIGNMENT, "--course", str(REPO), "--format", "json"]
        started = time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True, cwd=REPO,
                                env={**os.environ, "PYTHONPATH": str(REPO)})
        whole_s = time.perf_counter() - started
        assert result.returncode == 0, result.stderr
        print(f"whole command (grade similarity --format json, {len(json.loads(result.stdout))} pairs): {whole_s:.1f} s")


if __name__ == "__main__":
    main()
