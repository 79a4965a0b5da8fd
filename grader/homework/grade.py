"""One student's homework Grade: find the model -> validate -> infer in the sandbox -> metrics -> points.

Never raises for anything the student did: a missing folder, a refused model, a crash or a
timeout during inference each become that student's result with a message and 0 points.
It raises only for the instructor's faults (a rubric that names an unknown metric, a
held-out file that cannot be read): InstructorError, which stops the run (check_settings
finds them before a class is graded).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from grader.course.assignments import Assignment
from grader.discover import extract_zip
from grader.errors import InstructorError, RubricError, course_file
from grader.homework.data import HeldOut, data_path, examples_word, load_heldout, load_train
from grader.homework.metrics import DEFAULT_METRICS, REGISTRY
from grader.homework.score import (InferenceFailed, InferenceSettings, InferenceTimeout, compute_metrics,
                                   run_inference)
from grader.homework.validate import ModelCheck, ModelRejected, allowed_architectures, validate_model
from grader.models import Execution, Grade, ModelScore, Outcome, Status, Submission, TestResult
from grader.options import GradingOptions
from grader.sandbox.bwrap import Sandbox
from grader.written_answers import file_answers

VALID_TEST = "model_valid"  # the rubric test that pays for a model that loads and runs
DEFAULT_MODEL_DIR = "model"


def model_dir(assignment: Assignment) -> str:
    """The folder students hand their model in (settings.model_dir)."""
    return str(assignment.rubric.settings.get("model_dir", DEFAULT_MODEL_DIR))


def grade_model(submission: Submission, assignment: Assignment, options: GradingOptions, slot: int = 0) -> Grade:
    started = time.monotonic()
    rubric = assignment.rubric
    settings = rubric.settings
    scoring = _scoring(assignment)
    names = metric_names(assignment)
    folder_name = model_dir(assignment)
    base = assignment.blank_grade(submission)
    heldout = load_heldout(settings, assignment.course_root)
    measured = ModelScore(split_hash=heldout.split_hash, n_heldout=len(heldout.texts), heldout=heldout.source,
                          majority_accuracy=round(heldout.majority_accuracy, 4))
    scratch = Path(tempfile.mkdtemp(prefix="grade-model-"))
    try:
        try:
            folder = _model_folder(submission, folder_name, scratch)
            # REPORT.md and the like sit beside the model folder, at the submission's root (read, never run).
            base = replace(base, manual=file_answers(folder.parent, rubric.manual_parts))
            check = validate_model(folder, settings, heldout.label_names)
        except ModelRejected as error:
            return _failed(base, assignment, Status.REJECTED, str(error), measured, started, options)
        measured = replace(measured, architecture=check.architecture, parameters=check.parameters,
                           weights_mib=round(check.weight_bytes / 2**20, 1))
        files = scratch / "files"
        files.mkdir()
        for name in check.files:  # only the allowlisted files enter the sandbox
            shutil.copyfile(folder / name, files / name)
        run = InferenceSettings.from_settings(settings, options.limits)
        # The students' environment (options.kernel), as their notebooks' kernels: what they trained with.
        sandbox = Sandbox(slot, options.limits, options.kernel) if options.sandbox else None
        hide = tuple(p for p in (data_path(settings, "heldout", assignment.course_root),) if p is not None)
        try:
            inference = run_inference(files, heldout.texts, run, sandbox=sandbox, limits=options.limits, hide=hide,
                                      warm=options.warm_kernels if options.warm_scorers is None else options.warm_scorers)
        except InferenceTimeout as error:
            return _failed(base, assignment, Status.TIMEOUT, str(error), measured, started, options)
        except InferenceFailed as error:
            return _failed(base, assignment, Status.ERROR, str(error), measured, started, options)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    predictions = _predictions(inference.logits, check, heldout)
    metrics = compute_metrics(predictions, heldout, names)

    def rounded(key: str) -> float | None:
        return None if key not in metrics else round(metrics[key], 4)

    others = tuple((n, round(float(metrics[n]), 4)) for n in names
                   if REGISTRY[n].scalar and n not in ("accuracy", "macro_f1"))
    measured = replace(
        measured, accuracy=rounded("accuracy"), macro_f1=rounded("macro_f1"),
        per_class_f1=None if "per_class_f1" not in metrics else tuple(round(x, 4) for x in metrics["per_class_f1"]),
        confusion_matrix=(None if "confusion_matrix" not in metrics
                          else tuple(tuple(row) for row in metrics["confusion_matrix"])),
        labels=tuple(heldout.label_names), other_metrics=others or None,
        device=inference.facts.get("device"), dtype=inference.facts.get("dtype"),
        inference_s=round(inference.seconds, 2),
        reviews_per_s=round(len(heldout.texts) / max(float(inference.facts.get("infer_s") or 0), 1e-9), 1))
    tests = _score_tests(assignment, scoring, metrics, heldout)
    score = round(sum(t.points for t in tests), 2)
    shown = ", ".join(f"{REGISTRY[n].title} {metrics[n]:.3f}" for n in names if REGISTRY[n].scalar)
    message = (f"{shown} on {len(heldout.texts)} held-out {examples_word(settings)} "
               f"(majority-class baseline {heldout.majority_accuracy:.3f})")
    duration = time.monotonic() - started
    return replace(base, score=score, tests=tests, message=message, duration_s=duration,
                   model_score=replace(measured, seconds=round(duration, 2)),
                   execution=Execution(status=Status.GRADED, message=message, duration_s=round(inference.seconds, 3),
                                       sandboxed=options.sandbox))


def _model_folder(submission: Submission, model_dir: str, scratch: Path) -> Path:
    """The model folder on disk: the submission's own, or found inside its extracted zip."""
    source = submission.source
    if source.suffix != ".zip" or not source.is_file():
        return source
    try:
        root = extract_zip(source, scratch / "unzipped")
    except (ValueError, OSError) as error:
        raise ModelRejected(f"{source.name} could not be unpacked: {error}") from error
    candidates = sorted((p for p in (scratch / "unzipped").rglob(model_dir) if p.is_dir()),
                        key=lambda p: len(p.parts))
    return candidates[0] if candidates else root / model_dir


def check_settings(assignment: Assignment) -> None:
    """The homework's settings, before a class is graded: every test scored by a known metric, the
    architectures real ones, the data readable with two or more classes, train and held-out apart."""
    metric_names(assignment)  # and, through it, settings.scoring
    settings = assignment.rubric.settings
    rubric = course_file(assignment.rubric_path)
    try:
        allowed_architectures(settings)
    except InstructorError as error:
        raise RubricError(f"{rubric}: {error}") from None
    load_heldout(settings, assignment.course_root)
    train, heldout = (data_path(settings, key, assignment.course_root) for key in ("train", "heldout"))
    if train is not None:
        if heldout is not None and train.resolve() == heldout.resolve():
            raise RubricError(f"{rubric}: settings.train and settings.heldout name the same data; the held-out "
                              "set must never be released")
        load_train(settings, assignment.course_root)
    readme = data_path(settings, "train_readme", assignment.course_root)
    if readme is not None and not readme.is_file():
        raise RubricError(f"{rubric}: settings.train_readme names {course_file(readme)}, which is not a file")


def metric_names(assignment: Assignment) -> tuple[str, ...]:
    """The metrics to compute: settings.metrics (default DEFAULT_METRICS), then any that
    settings.scoring uses and the list left out, each once, in that order."""
    settings = assignment.rubric.settings
    listed = settings.get("metrics", list(DEFAULT_METRICS))
    rubric = course_file(assignment.rubric_path)
    if not isinstance(listed, list) or not all(isinstance(n, str) for n in listed):
        raise RubricError(f"{rubric}: settings.metrics must list metric names, e.g. [accuracy, macro_f1]")
    unknown = [n for n in listed if n not in REGISTRY]
    if unknown:
        raise RubricError(f"{rubric}: settings.metrics names {', '.join(unknown)}; the metrics are "
                          f"{', '.join(REGISTRY)} (grader/homework/metrics/)")
    scored = [spec["metric"] for spec in _scoring(assignment).values()]
    return tuple(dict.fromkeys([*listed, *scored]))


def _scoring(assignment: Assignment) -> dict[str, dict[str, Any]]:
    """settings.scoring: rubric test -> {metric, full, zero}; every other rubric test must be model_valid.

    A test earns all its points when the metric is at `full` or better, none at `zero` or worse
    (`zero: majority`: the majority-class accuracy of the held-out set), linearly in between.
    """
    scoring = dict(assignment.rubric.settings.get("scoring") or {})
    rubric = course_file(assignment.rubric_path)
    scalars = [name for name, metric in REGISTRY.items() if metric.scalar]
    for test in assignment.rubric.tests:
        if test != VALID_TEST and test not in scoring:
            raise RubricError(f"{rubric}: test {test} has no entry under settings.scoring; add one, e.g. "
                              f"`{test}: {{metric: accuracy, full: 0.8, zero: majority}}`, or remove the test")
        spec = scoring.get(test)
        if spec is None:
            continue
        if not isinstance(spec, dict) or spec.get("metric") not in scalars:
            raise RubricError(f"{rubric}: settings.scoring.{test} needs `metric:` one of {', '.join(scalars)}, "
                              "e.g. `metric: accuracy` or `metric: macro_f1`")
        zero = spec.get("zero", "majority")
        if not _number(spec.get("full")) or not (zero == "majority" or _number(zero)):
            raise RubricError(f"{rubric}: settings.scoring.{test} needs `full:` a number and `zero:` a number "
                              "or `majority`")
    return scoring


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _predictions(logits: list[list[float]], check: ModelCheck, heldout: HeldOut) -> list[int]:
    """argmax per text; when the model names the task's labels (in any order) the names decide."""
    names = heldout.label_names
    by_name = set(check.id2label) == set(names)
    predictions = []
    for row in logits:
        best = max(range(len(row)), key=row.__getitem__)
        predictions.append(names.index(check.id2label[best]) if by_name else best)
    return predictions


def linear_points(value: float, full: float, zero: float, points: float) -> float:
    """Full points at `full` or better, none at `zero` or worse, linear in between."""
    if full <= zero:
        return points if value >= full else 0.0
    return round(points * min(1.0, max(0.0, (value - zero) / (full - zero))), 2)


def _score_tests(assignment: Assignment, scoring: dict[str, dict[str, Any]], metrics: dict[str, Any],
                 heldout: HeldOut) -> tuple[TestResult, ...]:
    results = []
    for part in assignment.rubric.parts:
        for test, points in part.tests:
            if test == VALID_TEST:
                results.append(TestResult(test, part.name, Outcome.PASSED, points, points,
                                          "the model passed validation and ran on the held-out set"))
                continue
            spec = scoring[test]
            value = float(metrics[spec["metric"]])
            zero = heldout.majority_accuracy if spec.get("zero", "majority") == "majority" else float(spec["zero"])
            full = float(spec["full"])
            got = linear_points(value, full, zero, points)
            message = (f"{spec['metric']} {value:.4f}: {got:g}/{points:g} points "
                       f"(full points at {full:g}, none at or below {zero:.4f})")
            outcome = Outcome.PASSED if got >= points else Outcome.FAILED
            results.append(TestResult(test, part.name, outcome, got, points, message))
    return tuple(results)


def _failed(base: Grade, assignment: Assignment, status: Status, message: str, measured: ModelScore,
            started: float, options: GradingOptions) -> Grade:
    """A model that was refused or failed to run: its message on every test, 0 points."""
    tests = []
    for part in assignment.rubric.parts:
        for test, points in part.tests:
            outcome = Outcome.FAILED if test == VALID_TEST else Outcome.ERROR
            text = message if test == VALID_TEST else f"not scored: {message}"
            tests.append(TestResult(test, part.name, outcome, 0.0, points, text))
    duration = time.monotonic() - started
    return replace(base, status=status, score=0.0, tests=tuple(tests), message=message, duration_s=duration,
                   model_score=replace(measured, seconds=round(duration, 2)),
                   execution=Execution(status=status, message=message, duration_s=round(duration, 3),
                                       sandboxed=options.sandbox))
