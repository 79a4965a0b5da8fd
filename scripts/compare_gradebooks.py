"""Compare two gradebooks (SQLite files) result by result, apart from ids, times and durations.

Used to show that a refactor changed no grade: grade the same class with the old and the
new code into two databases, then

    .venv/bin/python scripts/compare_gradebooks.py before.db after.db

prints every difference (student, assignment, column, before, after) and a summary, and
exits 1 when a score, status, outcome or points value differs. Columns that legitimately
depend on the grader's own files (the tests' hashes, when a test file's import line moved)
are reported separately and do not fail the comparison with --allow-hash-changes.
"""

from __future__ import annotations

import argparse
import json
import re
import sqlite3
import sys
from pathlib import Path
from typing import Any

# Wall-clock measurements: they differ on every run, whatever the code.
TIMING_KEYS = {"seconds", "inference_s", "reviews_per_s"}
RESULT_COLUMNS = ("status", "score", "max_score", "message", "tests_hash", "reference_hash", "rubric_hash",
                  "grader_version", "execution_status", "execution_message", "output_excerpt", "cell_errors",
                  "sandboxed", "extra")
TEST_COLUMNS = ("part", "outcome", "points", "max_points", "message")
# A student's printed output holds what differs between runs of the same code: the
# kernel's scratch folder and progress-bar rates (tqdm's "12402.41it/s").
RUN_NOISE = (re.compile(r"/tmp/grade-\d+-\w+"), re.compile(r"\d+(?:\.\d+)?(?:it/s|s/it)"))
HASHES = {"tests_hash", "reference_hash", "rubric_hash"}
GRADES = {"status", "score", "max_score", "outcome", "points", "max_points"}


def latest_results(db: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """(student, assignment) -> the newest result's columns and its tests, timing removed."""
    connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    connection.row_factory = sqlite3.Row
    rows = connection.execute(
        "SELECT r.*, s.student, s.assignment, s.content_hash FROM results r JOIN submissions s "
        "ON s.id = r.submission_id ORDER BY r.id").fetchall()
    results: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        record = {column: row[column] for column in RESULT_COLUMNS}
        record["content_hash"] = row["content_hash"]
        for noise in RUN_NOISE:
            record["output_excerpt"] = noise.sub("<run>", record["output_excerpt"] or "")
        extra = json.loads(record["extra"] or "{}")
        record["extra"] = json.dumps({k: v for k, v in extra.items() if k not in TIMING_KEYS}, sort_keys=True)
        record["tests"] = {
            test["test_id"]: {column: test[column] for column in TEST_COLUMNS}
            for test in connection.execute("SELECT * FROM test_results WHERE result_id = ? ORDER BY id",
                                           (row["id"],))
        }
        results[(row["student"], row["assignment"])] = record
    connection.close()
    return results


def differences(before: dict[tuple[str, str], dict[str, Any]],
                after: dict[tuple[str, str], dict[str, Any]]) -> list[tuple[str, str, str, Any, Any]]:
    found = []
    for key in sorted(before.keys() | after.keys()):
        old, new = before.get(key), after.get(key)
        if old is None or new is None:
            found.append((*key, "result", "present" if old else "absent", "present" if new else "absent"))
            continue
        for column in (*RESULT_COLUMNS, "content_hash"):
            if old[column] != new[column]:
                found.append((*key, column, old[column], new[column]))
        for test in sorted(old["tests"].keys() | new["tests"].keys()):
            old_test, new_test = old["tests"].get(test), new["tests"].get(test)
            if old_test is None or new_test is None:
                found.append((*key, f"test {test}", old_test, new_test))
                continue
            for column in TEST_COLUMNS:
                if old_test[column] != new_test[column]:
                    found.append((*key, f"test {test} {column}", old_test[column], new_test[column]))
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--allow-hash-changes", action="store_true",
                        help="report changed tests/reference/rubric hashes without failing")
    args = parser.parse_args()
    before, after = latest_results(args.before), latest_results(args.after)
    found = differences(before, after)
    hashes = [d for d in found if d[2] in HASHES]
    others = [d for d in found if d[2] not in HASHES]
    for student, assignment, column, old, new in others:
        print(f"{student} {assignment} {column}: {str(old)[:120]!r} -> {str(new)[:120]!r}")
    changed_assignments = sorted({(a, c) for _, a, c, _, _ in hashes})
    for assignment, column in changed_assignments:
        print(f"{assignment}: {column} changed (the course's own files changed)")
    tests = sum(len(r["tests"]) for r in before.values())
    grades_differ = [d for d in others if d[2] in GRADES or d[2].split(" ")[-1] in GRADES or d[2] == "result"]
    print(f"{len(before)} results and {tests} test verdicts before, {len(after)} results after; "
          f"{len(others)} differences outside hashes ({len(grades_differ)} in statuses, scores, outcomes "
          f"or points); {len(hashes)} hash changes")
    failed = bool(others) or (bool(hashes) and not args.allow_hash_changes)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
