"""The one mapping of a Grade to plain data and back.

`grade_to_record` / `grade_from_record` are the only place a Grade becomes plain data (JSON
types, flat like the gradebook's rows) and comes back: the store and every JSON output use them.
"""

from __future__ import annotations

from dataclasses import asdict, fields, replace
from datetime import datetime
from typing import Any

from grader.models import (CellError, Execution, Figure, Fingerprint, Grade, Lateness, ManualPart, ManualResult,
                           ModelScore, Outcome, RubricItem, Signal, SignalKind, Status, TestResult)

_HELDOUT_KEYS = ("split_hash", "n_heldout", "heldout", "majority_accuracy")
_MODEL_KEYS = ("architecture", "parameters", "weights_mib")
_SCORE_KEYS = ("accuracy", "macro_f1", "per_class_f1", "confusion_matrix", "labels", "device", "dtype",
               "inference_s", "reviews_per_s")


def grade_to_record(grade: Grade) -> dict[str, Any]:
    """A Grade as plain data (JSON types only). The keys are the gradebook's columns (results and,
    under "tests", test_results) plus student, assignment and submission_hash."""
    fp, ex = grade.fingerprint, grade.execution
    return {
        "student": grade.student,
        "assignment": grade.assignment,
        "submission_hash": fp.submission_hash,
        "status": grade.status.value,
        "score": grade.score,
        "max_score": grade.max_score,
        "message": grade.message,
        "tests_hash": fp.tests_hash,
        "reference_hash": fp.reference_hash,
        "rubric_hash": fp.rubric_hash,
        "grader_version": fp.grader_version,
        # Every execution_* value is None when nothing was executed.
        "execution_status": None if ex is None else ex.status.value,
        "execution_message": None if ex is None else ex.message,
        "output_excerpt": None if ex is None else ex.output_excerpt,
        "cell_errors": None if ex is None else [asdict(c) for c in ex.cell_errors],
        "sandboxed": None if ex is None else ex.sandboxed,
        "execution_duration_s": None if ex is None else ex.duration_s,
        "execution_signals": None if ex is None else _signals_to_data(ex.signals),
        "execution_figures": None if ex is None else [asdict(f) for f in ex.figures],
        "duration_s": grade.duration_s,
        "extra": {} if grade.model_score is None else _model_score_to_data(grade.model_score),
        "late": None if grade.late is None else _lateness_to_data(grade.late),
        "late_penalty": grade.late_penalty,  # derived, stored so the row reads whole: raw, penalty, final
        "final_score": grade.final_score,
        "tests": [
            {
                "test_id": t.test_id,
                "part": t.part,
                "outcome": t.outcome.value,
                "points": t.points,
                "max_points": t.max_points,
                "message": t.message,
                "duration_s": t.duration_s,
                "signals": _signals_to_data(t.signals),
                "student_message": t.student_message,
            }
            for t in grade.tests
        ],
        # The manual parts with the answers (the gradebook's written_answers); the TA's grades are not
        # part of a result: they are stored on their own and applied when grades are read.
        "manual": [manual_part_to_data(m.part) | {"text": m.answer} for m in grade.manual],
    }


def grade_from_record(data: dict[str, Any]) -> Grade:
    """The Grade that `grade_to_record` made `data` from. Keys added later (the signals, a test's
    student_message) may be missing or None in a record written before them: read as none."""
    execution = None
    if data["execution_status"] is not None:
        execution = Execution(
            status=Status(data["execution_status"]),
            message=data["execution_message"] or "",
            cell_errors=tuple(CellError(**c) for c in data["cell_errors"] or ()),
            output_excerpt=data["output_excerpt"] or "",
            duration_s=data["execution_duration_s"] or 0.0,
            sandboxed=bool(data["sandboxed"]),
            signals=_signals_from_data(data.get("execution_signals")),
            figures=tuple(Figure(int(f["cell"]), str(f["mime"]), str(f["data"]))
                          for f in data.get("execution_figures") or ()),
        )
    return Grade(
        student=data["student"],
        assignment=data["assignment"],
        status=Status(data["status"]),
        score=data["score"],
        max_score=data["max_score"],
        message=data["message"],
        fingerprint=Fingerprint(
            submission_hash=data["submission_hash"],
            tests_hash=data["tests_hash"],
            reference_hash=data["reference_hash"],
            rubric_hash=data["rubric_hash"],
            grader_version=data["grader_version"],
        ),
        tests=tuple(
            TestResult(
                test_id=t["test_id"],
                part=t["part"],
                outcome=Outcome(t["outcome"]),
                points=t["points"],
                max_points=t["max_points"],
                message=t["message"],
                duration_s=t["duration_s"],
                signals=_signals_from_data(t.get("signals")),
                student_message=t.get("student_message"),
            )
            for t in data["tests"]
        ),
        execution=execution,
        duration_s=data["duration_s"],
        model_score=_model_score_from_data(data.get("extra") or {}),
        late=_lateness_from_data(data.get("late")),
        manual=tuple(ManualResult(manual_part_from_data(m), m.get("text")) for m in data.get("manual") or ()),
    )


def manual_part_to_data(part: ManualPart) -> dict[str, Any]:
    return {"part": part.answer, "name": part.name, "comments": list(part.comments),
            "items": [{"id": i.id, "points": i.points, "description": i.description} for i in part.items]}


def manual_part_from_data(data: dict[str, Any]) -> ManualPart:
    return ManualPart(name=str(data["name"]), answer=str(data["part"]), comments=tuple(data.get("comments") or ()),
                      items=tuple(RubricItem(str(i["id"]), float(i["points"]), str(i["description"]))
                                  for i in data.get("items") or ()))


def _lateness_to_data(late: Lateness) -> dict[str, Any]:
    return {"due_at": late.due_at.isoformat(),
            "submitted_at": None if late.submitted_at is None else late.submitted_at.isoformat(),
            "days_late": late.days_late, "penalty_percent": late.penalty_percent, "extended": late.extended,
            "message": late.message}


def _lateness_from_data(data: dict[str, Any] | None) -> Lateness | None:
    """None for a record written before lateness was stored (revision 0006), or without one."""
    if not data:
        return None
    submitted = data.get("submitted_at")
    return Lateness(due_at=datetime.fromisoformat(data["due_at"]),
                    submitted_at=None if submitted is None else datetime.fromisoformat(submitted),
                    days_late=int(data.get("days_late", 0)), penalty_percent=float(data.get("penalty_percent", 0)),
                    extended=bool(data.get("extended", False)), message=str(data.get("message", "")))


def _signals_to_data(signals: tuple[Signal, ...]) -> list[dict[str, str]]:
    return [{"kind": s.kind.value, "detail": s.detail} for s in signals]


def _signals_from_data(data: list[dict[str, str]] | None) -> tuple[Signal, ...]:
    return tuple(Signal(SignalKind(s["kind"]), str(s["detail"])) for s in data or ())


def _model_score_to_data(score: ModelScore) -> dict[str, Any]:
    keys = list(_HELDOUT_KEYS)
    if score.architecture is not None:
        keys += _MODEL_KEYS
    if score.labels is not None:  # inference ran and the metrics were computed
        keys += _SCORE_KEYS
    if score.other_metrics is not None:
        keys.append("other_metrics")
    if score.seconds is not None:
        keys.append("seconds")
    data = {key: getattr(score, key) for key in keys}
    for key in ("per_class_f1", "labels"):
        if data.get(key) is not None:
            data[key] = list(data[key])
    if data.get("confusion_matrix") is not None:
        data["confusion_matrix"] = [list(row) for row in data["confusion_matrix"]]
    if data.get("other_metrics") is not None:
        data["other_metrics"] = [[name, value] for name, value in data["other_metrics"]]
    return data


def _model_score_from_data(data: dict[str, Any]) -> ModelScore | None:
    """None for a grade without one ({}); keys a ModelScore does not know are left behind."""
    if not all(key in data for key in _HELDOUT_KEYS):
        return None
    known = {f.name for f in fields(ModelScore)}
    score = ModelScore(**{key: item for key, item in data.items() if key in known})
    return replace(
        score,
        per_class_f1=None if score.per_class_f1 is None else tuple(score.per_class_f1),
        confusion_matrix=None if score.confusion_matrix is None else tuple(map(tuple, score.confusion_matrix)),
        labels=None if score.labels is None else tuple(score.labels),
        other_metrics=None if score.other_metrics is None else tuple((str(n), v) for n, v in score.other_metrics),
    )
