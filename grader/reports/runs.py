"""One page per grading run: what changed against the result each pair had before the run.

For every (student, assignment) the run stored a result for, the previous result is the newest
one stored by an earlier run. A pair with none is new; a different submission hash is a
resubmission; the same hash graded again (tests, reference, rubric or grader changed, or
--force) is a regrade; a reused result changed nothing and is only counted.
"""

from __future__ import annotations

from collections.abc import Sequence

from grader.models import Grade
from grader.reports.contexts import ChangeKind, ChangeRow, Detail, RunLink, RunPageContext, TestChange
from grader.reports.text import anchor, clean, points, run_page, score, student_page, timestamp
from grader.store.gradebook import RunInfo, StoredResult

STYLESHEET = "../static/style.css"


PairChanges = dict[tuple[str, str], list[tuple[int, ChangeRow | None]]]


def run_changes(history: Sequence[StoredResult]) -> dict[int, tuple[list[ChangeRow], int]]:
    """Per run, in one pass over the history: its changes, and how many results it reused unchanged."""
    return changes_by_run(pair_changes(history))


def pair_changes(history: Sequence[StoredResult]) -> PairChanges:
    """Per (student, assignment), each of its results in run order: (run id, what it changed; None:
    reused). Pairs are independent, so a cache can redo the pairs whose grades changed and keep the rest."""
    previous: dict[tuple[str, str], Grade] = {}
    out: PairChanges = {}
    for stored in sorted(history, key=lambda r: (r.run_id, r.result_id)):
        key = (stored.grade.student, stored.grade.assignment)
        change = None if stored.reused_from is not None else _change(previous.get(key), stored.grade)
        out.setdefault(key, []).append((stored.run_id, change))
        previous[key] = stored.grade
    return out


def changes_by_run(per_pair: PairChanges) -> dict[int, tuple[list[ChangeRow], int]]:
    """`pair_changes` regrouped per run: its changes (by assignment, then student) and its reused count."""
    out: dict[int, tuple[list[ChangeRow], int]] = {}
    for changes in per_pair.values():
        for run_id, change in changes:
            rows, reused = out.get(run_id, ([], 0))
            if change is None:
                reused += 1
            else:
                rows.append(change)
            out[run_id] = (rows, reused)
    for rows, _ in out.values():
        rows.sort(key=lambda r: (r.assignment, r.student.casefold(), r.student))
    return out


def _change(before: Grade | None, after: Grade) -> ChangeRow:
    if before is None:
        kind = ChangeKind.NEW
    elif before.fingerprint.submission_hash != after.fingerprint.submission_hash:
        kind = ChangeKind.RESUBMITTED
    else:
        kind = ChangeKind.REGRADED
    old_tests = {t.test_id: t for t in before.tests} if before else {}
    new_tests = {t.test_id: t for t in after.tests}
    tests = []
    if before is not None:
        for test_id in sorted(old_tests.keys() | new_tests.keys()):
            old, new = old_tests.get(test_id), new_tests.get(test_id)
            was = f"{old.outcome} {points(old.points)}" if old else "—"
            now = f"{new.outcome} {points(new.points)}" if new else "—"
            if was != now:
                tests.append(TestChange(test_id=clean(test_id), before=was, after=now))
    delta = after.final_score - before.final_score if before else after.final_score
    return ChangeRow(
        student=clean(after.student),
        href=f"../{student_page(after.student)}#{anchor(after.assignment)}",
        assignment=clean(after.assignment),
        kind=kind,
        status_before=before.status.value if before else "",
        status_after=after.status.value,
        before=score(before.final_score, before.max_score) if before else "—",
        after=score(after.final_score, after.max_score),
        delta=("+" if delta > 0 else "") + points(delta) if before else "",
        changed=before is None or before.final_score != after.final_score or before.status != after.status,
        tests=tuple(tests),
    )


def run_context(
    run: RunInfo,
    runs: Sequence[RunInfo],
    changes_by_run: dict[int, tuple[list[ChangeRow], int]],
    *,
    title: str,
    generated_at: str,
) -> RunPageContext:
    changes, reused = changes_by_run.get(run.id, ([], 0))
    ids = [r.id for r in runs]
    at = ids.index(run.id)
    kinds = [c.kind for c in changes]
    return RunPageContext(
        page_title=f"Run {run.id} · {clean(title)}",
        stylesheet=STYLESHEET,
        generated_at=generated_at,
        report_title=clean(title),
        index_href="../index.html",
        run_id=run.id,
        summary=(
            Detail("Started", timestamp(run.started_at)),
            Detail("Finished", timestamp(run.finished_at) if run.finished_at else "—"),
            Detail("Status", run.status.value),
            Detail("Host", clean(run.host)),
            Detail("Grader version", clean(run.grader_version)),
        ),
        previous_href=f"run-{ids[at - 1]}.html" if at > 0 else "",
        next_href=f"run-{ids[at + 1]}.html" if at + 1 < len(ids) else "",
        counts=(
            Detail("New submissions", str(kinds.count(ChangeKind.NEW))),
            Detail("Resubmitted", str(kinds.count(ChangeKind.RESUBMITTED))),
            Detail("Regraded", str(kinds.count(ChangeKind.REGRADED))),
            Detail("Scores changed", str(sum(c.changed and c.kind is not ChangeKind.NEW for c in changes))),
            Detail("Unchanged (reused)", str(reused)),
        ),
        changes=tuple(changes),
        changed_scores=tuple(c for c in changes if c.changed and c.kind is not ChangeKind.NEW),
    )


def run_links(runs: Sequence[RunInfo], per_pair: PairChanges) -> tuple[RunLink, ...]:
    """The runs for the class overview, newest first (counts only: no run's changes sorted)."""
    results: dict[int, int] = {}
    reused: dict[int, int] = {}
    changed: dict[int, int] = {}
    for changes in per_pair.values():
        for run_id, change in changes:
            results[run_id] = results.get(run_id, 0) + 1
            if change is None:
                reused[run_id] = reused.get(run_id, 0) + 1
            elif change.changed:
                changed[run_id] = changed.get(run_id, 0) + 1
    return tuple(
        RunLink(
            run_id=run.id,
            href=run_page(run.id),
            started=timestamp(run.started_at),
            status=run.status.value,
            results=results.get(run.id, 0),
            reused=reused.get(run.id, 0),
            changed=changed.get(run.id, 0),
        )
        for run in reversed(runs)
    )
