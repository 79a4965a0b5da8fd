"""grader/homework: batching of the in-sandbox scorer, points from metrics, the local `evaluate` metrics."""

from __future__ import annotations

import os
from pathlib import Path

from grader.homework.data import HeldOut, load_heldout
from grader.homework.grade import _predictions, linear_points
from grader.homework.infer import batches
from grader.homework.score import compute_metrics
from grader.homework.validate import ModelCheck


def test_batches_are_length_sorted_cover_every_text_once_and_respect_the_token_budget() -> None:
    lengths = [5, 120, 7, 33, 128, 2, 64, 64, 9, 17] * 30
    groups = batches(lengths, max_tokens=512, max_batch=32)
    flat = [i for g in groups for i in g]
    assert sorted(flat) == list(range(len(lengths)))
    assert [lengths[i] for i in flat] == sorted(lengths)  # shortest first: each batch pads little
    assert all(len(g) * max(lengths[i] for i in g) <= 512 and len(g) <= 32 for g in groups)


def test_linear_points() -> None:
    assert linear_points(0.90, full=0.8, zero=0.6, points=10) == 10
    assert linear_points(0.70, full=0.8, zero=0.6, points=10) == 5
    assert linear_points(0.55, full=0.8, zero=0.6, points=10) == 0


def heldout(labels: tuple[int, ...]) -> HeldOut:
    return HeldOut(texts=("t",) * len(labels), labels=labels, label_names=("rotten", "fresh"), source="test",
                   split_hash="x")


def test_predictions_follow_the_model_label_names_when_it_has_them() -> None:
    logits = [[2.0, 1.0], [0.0, 3.0]]
    check = ModelCheck(files=(), architecture="", num_labels=2, id2label=("fresh", "rotten"), weight_bytes=0,
                       parameters=0, tokenizer_size=0)
    assert _predictions(logits, check, heldout((0, 0))) == [1, 0]  # id 0 means "fresh" to this model
    anonymous = ModelCheck(files=(), architecture="", num_labels=2, id2label=("LABEL_0", "LABEL_1"),
                           weight_bytes=0, parameters=0, tokenizer_size=0)
    assert _predictions(logits, anonymous, heldout((0, 0))) == [0, 1]


def test_metrics_come_from_the_local_evaluate_modules_offline() -> None:
    got = compute_metrics([1, 1, 0, 1], heldout((1, 0, 0, 1)))
    assert got["accuracy"] == 0.75
    assert got["confusion_matrix"] == [[1, 1], [0, 2]]  # rows: reference, columns: prediction
    assert abs(got["macro_f1"] - (2 / 3 + 4 / 5) / 2) < 1e-9  # F1 rotten 2/3, fresh 4/5
    assert os.environ["HF_HUB_OFFLINE"] == "1"


def test_instructor_csv_with_class_names_or_ids(tmp_path: Path) -> None:
    path = tmp_path / "h.csv"
    path.write_text('text,label\n"great, truly",fresh\nawful,0\n')
    got = load_heldout({"heldout": str(path), "labels": ["rotten", "fresh"]}, tmp_path)
    assert got.texts == ("great, truly", "awful") and got.labels == (1, 0) and len(got.split_hash) == 64


def test_gpu_scoring_lifts_only_the_address_space_cap_and_binds_the_driver_libraries(tmp_path: Path,
                                                                                    monkeypatch) -> None:
    """CUDA reserves more address space than any RLIMIT_AS allows; everything else stays capped."""
    from grader.homework.score import InferenceSettings, uses_gpu, with_extra_binds
    from grader.sandbox.bwrap import Limits, Sandbox, SandboxPaths

    paths = SandboxPaths(workdir=tmp_path / "w", runtime=tmp_path / "r")
    capped = Sandbox(7, Limits()).wrap(["python3"], paths, {})
    uncapped = Sandbox(7, Limits(address_space_bytes=None)).wrap(["python3"], paths, {})
    assert any(arg.startswith("--as=") for arg in capped)
    assert not any(arg.startswith("--as=") for arg in uncapped)
    assert any(arg.startswith("--nproc=") for arg in uncapped) and any(arg.startswith("--cpu=") for arg in uncapped)

    driver = tmp_path / "driver-lib"
    driver.mkdir()
    monkeypatch.setenv("LD_LIBRARY_PATH", f"{driver}:/usr/lib/x86_64-linux-gnu:/does/not/exist")
    command = ["bwrap", "--chdir", "/w", "--", "python3"]
    with_gpu = with_extra_binds(command, tmp_path, Path("/homework"), gpu=True)
    assert ["--ro-bind", str(driver), str(driver)] == with_gpu[with_gpu.index(str(driver)) - 1:][:3]
    assert "/usr/lib/x86_64-linux-gnu" not in with_gpu  # /usr is bound already
    without = with_extra_binds(command, tmp_path, Path("/homework"))
    assert str(driver) not in without and "--dev-bind" not in without
    assert not uses_gpu(InferenceSettings(device="cpu"))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # a worker given no GPU: none is bound even if the host has one
    assert not uses_gpu(InferenceSettings(device="auto"))


def test_the_warm_scorer_template_imports_the_rubrics_architectures_ahead() -> None:
    from grader.homework.score import InferenceSettings
    from grader.homework.validate import ARCHITECTURES
    from grader.homework.warm_scorer import scorer_spec
    from grader.sandbox.bwrap import Limits

    default = InferenceSettings.from_settings({}, Limits())
    assert default.architectures == tuple(ARCHITECTURES.items())
    chosen = InferenceSettings.from_settings({"architectures": ["BertForSequenceClassification"]}, Limits())
    assert chosen.architectures == (("BertForSequenceClassification", "bert"),)
    spec = scorer_spec(1, False, chosen.architectures)
    assert spec.warm == ("scorer", (("BertForSequenceClassification", "bert"),))
    assert scorer_spec(1, False, default.architectures) == scorer_spec(1, False)  # one template for the default
