"""The homework made general: data (CSV or a saved dataset), labels read from the data, the
metric registry, the architecture allowlist, the released files, the held-out data masked."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

from grader.course.assignments import Assignment
from grader.course.rubric import load_rubric
from grader.errors import InstructorError, RubricError
from grader.homework.data import HeldOut, load_heldout, load_train
from grader.homework.grade import check_settings, metric_names
from grader.homework.kind import ModelKind
from grader.homework.metrics import REGISTRY
from grader.homework.score import compute_metrics, visible_in_sandbox, with_extra_binds
from grader.homework.validate import ModelRejected, allowed_architectures, validate_model
from tests.unit.homework.test_validate import build_tiny_model


def csv_file(path: Path, rows: list[tuple[str, object]], header: str = "text,label") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(header + "\n" + "".join(f'"{t}",{label}\n' for t, label in rows))
    return path


def test_label_names_come_from_the_data_in_sorted_order(tmp_path: Path) -> None:
    csv_file(tmp_path / "train.csv", [("a", "sports"), ("b", "science"), ("c", "politics")])
    csv_file(tmp_path / "held.csv", [("d", "science"), ("e", "sports")])
    settings = {"train": "train.csv", "heldout": "held.csv"}
    got = load_heldout(settings, tmp_path)
    assert got.label_names == ("politics", "science", "sports") and got.labels == (1, 2)
    assert load_train(settings, tmp_path).labels == (2, 1, 0)
    ids = csv_file(tmp_path / "ids.csv", [("a", 0), ("b", 2)])
    assert load_heldout({"heldout": str(ids)}, tmp_path).label_names == ("0", "1", "2")


@pytest.mark.parametrize(("rows", "settings", "match"), [
    ([("a", "x"), ("b", "x")], {}, r"two or more distinct classes"),
    ([("a", "x"), ("b", 1)], {}, r"mixes class ids and class names"),
    ([("a", "maybe")], {"labels": ["no", "yes"]}, r"label 'maybe' is neither a class id below 2 nor one of"),
])
def test_a_label_set_mistake_is_the_instructors(tmp_path: Path, rows: list, settings: dict, match: str) -> None:
    csv_file(tmp_path / "held.csv", rows)
    with pytest.raises(InstructorError, match=match):
        load_heldout({"heldout": "held.csv"} | settings, tmp_path)


def test_a_saved_dataset_with_class_labels(tmp_path: Path) -> None:
    import datasets

    features = datasets.Features({"text": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=["neg", "neu", "pos"])})
    data = datasets.Dataset.from_dict({"text": ["bad", "ok", "good", "fine"], "label": [0, 1, 2, 1]},
                                      features=features)
    data.save_to_disk(str(tmp_path / "held"))
    got = load_heldout({"heldout": "held"}, tmp_path)
    assert got.label_names == ("neg", "neu", "pos") and got.labels == (0, 1, 2, 1) and got.texts[0] == "bad"
    # The rubric's own order wins; the dataset's ids are mapped by name.
    assert load_heldout({"heldout": "held", "labels": ["pos", "neu", "neg"]}, tmp_path).labels == (2, 1, 0, 1)
    datasets.DatasetDict({"test": data}).save_to_disk(str(tmp_path / "dict"))
    with pytest.raises(InstructorError, match=r"several splits \(test\); save one split"):
        load_heldout({"heldout": "dict"}, tmp_path)


def three_classes(labels: tuple[int, ...]) -> HeldOut:
    return HeldOut(texts=("t",) * len(labels), labels=labels, label_names=("a", "b", "c"), source="t",
                   split_hash="x")


def test_every_registered_metric_over_three_classes() -> None:
    got = compute_metrics([0, 1, 2, 2, 1, 0], three_classes((0, 1, 2, 1, 1, 2)), tuple(REGISTRY))
    assert got["accuracy"] == pytest.approx(4 / 6)
    assert got["confusion_matrix"] == [[1, 0, 0], [0, 2, 1], [1, 0, 1]]
    f1 = [2 / 3, 4 / 5, 1 / 2]  # per class: 2TP / (2TP + FP + FN)
    assert got["per_class_f1"] == pytest.approx(f1) and got["macro_f1"] == pytest.approx(sum(f1) / 3)
    assert got["weighted_f1"] == pytest.approx((f1[0] * 1 + f1[1] * 3 + f1[2] * 2) / 6)
    assert got["macro_precision"] == pytest.approx((1 / 2 + 1 + 1 / 2) / 3)
    assert got["macro_recall"] == pytest.approx((1 + 2 / 3 + 1 / 2) / 3)


def homework(root: Path, **settings: object) -> Assignment:
    (root / "rubrics").mkdir(parents=True)
    (root / "reference" / "homework").mkdir(parents=True)
    csv_file(root / "data" / "held.csv", [("a", "x"), ("b", "y"), ("c", "z")])
    csv_file(root / "data" / "train.csv", [("d", "x"), ("e", "y"), ("f", "z")])
    rubric = {"assignment": "homework", "kind": "model", "notebook": "homework.ipynb",
              "settings": {"train": "data/train.csv", "heldout": "data/held.csv",
                           "scoring": {"f1": {"metric": "weighted_f1", "full": 0.9, "zero": "majority"}}} | settings,
              "parts": [{"name": "Model", "tests": {"model_valid": 1, "f1": 4}}]}
    path = root / "rubrics" / "homework.yaml"
    path.write_text(yaml.safe_dump(rubric))
    return Assignment("homework", root / "reference" / "homework", path, load_rubric(path), ModelKind())


def test_metrics_listed_and_scored_are_computed_once(tmp_path: Path) -> None:
    assignment = homework(tmp_path, metrics=["accuracy", "confusion_matrix"])
    check_settings(assignment)
    assert metric_names(assignment) == ("accuracy", "confusion_matrix", "weighted_f1")
    with pytest.raises(RubricError, match=r"settings.metrics names roc_auc; the metrics are accuracy"):
        check_settings(homework(tmp_path / "b", metrics=["roc_auc"]))  # before a class is graded


def test_train_and_heldout_must_differ_and_exist(tmp_path: Path) -> None:
    with pytest.raises(RubricError, match=r"name the same data"):
        check_settings(homework(tmp_path, train="data/held.csv"))
    with pytest.raises(InstructorError, match=r"nope.csv \(settings.train of the homework rubric\) cannot be read"):
        check_settings(homework(tmp_path / "b", train="data/nope.csv"))
    with pytest.raises(RubricError, match=r"settings.architectures names MyNet"):
        check_settings(homework(tmp_path / "c", architectures=["MyNet"]))


def test_release_copies_the_training_data_and_its_readme_never_the_heldout(tmp_path: Path) -> None:
    (tmp_path / "c" / "data" / "README.md").parent.mkdir(parents=True)
    (tmp_path / "c" / "data" / "README.md").write_text("# the data\n")
    assignment = homework(tmp_path / "c", train_readme="data/README.md")
    files = assignment.kind.release_data(assignment, tmp_path / "out")
    assert files == ("data/homework/train.csv", "data/homework/README.md")
    assert not list((tmp_path / "out").rglob("held*"))


def test_the_model_must_have_the_data_class_count_and_an_allowed_architecture(tmp_path: Path) -> None:
    folder = build_tiny_model(tmp_path / "model", num_labels=3)
    assert validate_model(folder, {}, ("a", "b", "c")).num_labels == 3
    with pytest.raises(ModelRejected, match=r"3 output labels, the task has 4 \(a, b, c, d\): load it with num_labels=4"):
        validate_model(folder, {}, ("a", "b", "c", "d"))
    only = {"architectures": ["DistilBertForSequenceClassification"]}
    assert allowed_architectures(only) == {"DistilBertForSequenceClassification": "distilbert"}
    with pytest.raises(ModelRejected, match=r"'BertForSequenceClassification' is not accepted; use one of Distil"):
        validate_model(folder, only, ("a", "b", "c"))


def test_heldout_data_the_sandbox_could_see_is_masked(tmp_path: Path) -> None:
    inside = Path(sys.prefix).resolve() / "lib"  # e.g. a dataset shipped in an installed package
    assert visible_in_sandbox((inside, tmp_path)) == [inside]
    command = with_extra_binds(["bwrap", "--chdir", "/w"], tmp_path, Path("/homework"), hide=(inside, tmp_path))
    assert ["--tmpfs", str(inside)] == command[command.index(str(inside)) - 1:][:2]
    assert command.count(str(tmp_path)) == 1  # bound as the inputs, not masked: the sandbox cannot see it anyway


def test_release_names_missing_training_data(tmp_path: Path) -> None:
    assignment = homework(tmp_path / "c", train="data/not-written-yet.csv")
    with pytest.raises(InstructorError, match=r"not-written-yet.csv \(settings.train of .*homework.yaml\) does not exist"):
        assignment.kind.release_data(assignment, tmp_path / "out")
