"""The model kind: the student hands in a fine-tuned model folder; the grader validates it, runs
it on a held-out set in the sandbox, and turns the metrics into points (grader/homework/grade.py)."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import ClassVar

from grader.course.assignments import Assignment, AssignmentKind, Course, EnterStage
from grader.discover import hash_file, hash_tree, missing, zip_stems
from grader.errors import InstructorError, course_file
from grader.homework.data import data_path, heldout_fingerprint
from grader.homework.grade import check_settings, grade_model, model_dir
from grader.kernel.spare import SpareKernel
from grader.models import Grade, StudentFolder, Submission, SubmissionKind
from grader.options import GradingOptions

class ModelKind(AssignmentKind):
    """A saved model folder (config, safetensors weights, tokenizer) scored on a held-out set."""

    name: ClassVar[str] = "model"
    wants_gpu: ClassVar[bool] = True
    needs_kernel: ClassVar[bool] = False
    runs_scorer: ClassVar[bool] = True
    has_public_tests: ClassVar[bool] = False
    no_public_tests: ClassVar[str] = ("your instructor scores the saved model on a held-out set; "
                                      "there are no public tests to run")

    def find(self, folder: StudentFolder, assignment: Assignment, course: Course) -> Submission:
        folder_name = model_dir(assignment)
        if folder.path.suffix == ".zip" and folder.path.is_file():
            if folder_name not in zip_stems(folder.path):
                return missing(folder, assignment)
            return Submission(folder.student, assignment.name, SubmissionKind.MODEL_FOLDER, folder.path,
                              hash_file(folder.path))
        model = folder.path / folder_name
        if model.is_dir():
            return Submission(folder.student, assignment.name, SubmissionKind.MODEL_FOLDER, model,
                              _with_answers(hash_tree(model), folder.path, assignment))
        return Submission(folder.student, assignment.name, SubmissionKind.MODEL_FOLDER, folder.path, "", "")

    def missing_message(self, assignment: Assignment) -> str:
        return f"no {model_dir(assignment)}/ folder found in your submission"

    def grade(self, submission: Submission, assignment: Assignment, options: GradingOptions, *, slot: int,
              enter_stage: EnterStage, spare: SpareKernel | None) -> Grade:
        enter_stage("score")
        try:
            return grade_model(submission, assignment, options, slot)
        finally:
            enter_stage(None)

    def check_course(self, assignment: Assignment) -> None:
        check_settings(assignment)

    def tests_fingerprint(self, assignment: Assignment, tests_hash: str) -> str:
        """The homework's hidden test is its held-out split (and the inference script)."""
        return hashlib.sha256(f"{tests_hash}:{heldout_fingerprint(assignment)}".encode()).hexdigest()

    def release_data(self, assignment: Assignment, out: Path) -> tuple[str, ...]:
        """The training data (settings.train, a CSV or a saved dataset folder) and its README
        (settings.train_readme), copied to data/<assignment>/ under their own names, where the
        homework notebook reads them. settings.heldout is never copied."""
        settings = assignment.rubric.settings
        dest = out / "data" / assignment.name
        written: list[Path] = []
        for key in ("train", "train_readme"):
            source = data_path(settings, key, assignment.course_root)
            if source is None:
                continue
            if not source.exists():
                raise InstructorError(f"{course_file(source)} (settings.{key} of {course_file(assignment.rubric_path)}) "
                                      "does not exist: write the homework's data first, or fix the setting")
            dest.mkdir(parents=True, exist_ok=True)
            target = dest / ("README.md" if key == "train_readme" else source.name)
            if source.is_dir():
                shutil.copytree(source, target)
                written += sorted(p for p in target.rglob("*") if p.is_file())
            else:
                shutil.copyfile(source, target)
                written.append(target)
        return tuple(str(p.resolve().relative_to(out.resolve())) for p in written)


def _with_answers(model_hash: str, root: Path, assignment: Assignment) -> str:
    """The content hash of a model folder, and of the answer files (REPORT.md) handed in beside it, so a
    changed report is graded again. Without answer files the hash is the model's alone, as it always was."""
    files = [root / part.answer for part in assignment.rubric.manual_parts]
    present = [f for f in files if f.is_file() and not f.is_symlink()]
    if not present:
        return model_hash
    listed = "".join(f"\0{f.name}\0{hash_file(f)}" for f in present)
    return hashlib.sha256(f"{model_hash}{listed}".encode()).hexdigest()
