"""What a model folder must be before anything loads it, checked in the trusted process.

Only JSON files and safetensors headers/tensors are read here: safetensors cannot run code
when loaded, pickles can, so a folder with only `pytorch_model.bin` is refused rather than
loaded. Architectures come from an allowlist of standard transformers classes for sequence
classification (settings.architectures, default ARCHITECTURES); anything that would make
transformers import code from the folder (`auto_map`) is refused, and `trust_remote_code` is
never set anywhere. The model's number of labels must be the task's class count. The checks
run cheapest first, so a student gets the first problem with a fix, not a traceback.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from grader.errors import InstructorError

# The default allowlist (settings.architectures replaces it): architecture -> the config's
# model_type it must come with.
ARCHITECTURES = {
    "BertForSequenceClassification": "bert",
    "DistilBertForSequenceClassification": "distilbert",
    "RobertaForSequenceClassification": "roberta",
    "XLMRobertaForSequenceClassification": "xlm-roberta",
    "ElectraForSequenceClassification": "electra",
    "AlbertForSequenceClassification": "albert",
    "DebertaForSequenceClassification": "deberta",
    "DebertaV2ForSequenceClassification": "deberta-v2",
    "MPNetForSequenceClassification": "mpnet",
    "ModernBertForSequenceClassification": "modernbert",
}
TOKENIZER_CLASSES = {
    "BertTokenizer", "BertTokenizerFast", "DistilBertTokenizer", "DistilBertTokenizerFast", "RobertaTokenizer",
    "RobertaTokenizerFast", "XLMRobertaTokenizer", "XLMRobertaTokenizerFast", "ElectraTokenizer",
    "ElectraTokenizerFast", "AlbertTokenizer", "AlbertTokenizerFast", "DebertaTokenizer", "DebertaTokenizerFast",
    "DebertaV2Tokenizer", "DebertaV2TokenizerFast", "MPNetTokenizer", "MPNetTokenizerFast",
    "PreTrainedTokenizerFast", "TokenizersBackend",
}
# The only files that go into the sandbox; anything else a student saved is ignored, never loaded.
MODEL_FILES = ("config.json", "model.safetensors")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt",
                   "vocab.json", "merges.txt", "spm.model", "sentencepiece.bpe.model", "spiece.model",
                   "added_tokens.json")
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
MAX_JSON_BYTES = 32 * 1024 * 1024  # tokenizer.json of a large vocabulary is a few MB
DEFAULT_MAX_MODEL_MB = 512


class ModelRejected(Exception):
    """The model folder cannot be scored; the message tells the student what to fix."""


@dataclass(frozen=True)
class ModelCheck:
    """A folder that passed: what goes into the sandbox and what we learned on the way."""

    files: tuple[str, ...]
    architecture: str
    num_labels: int
    id2label: tuple[str, ...]
    weight_bytes: int
    parameters: int
    tokenizer_size: int


def allowed_architectures(settings: dict[str, Any]) -> dict[str, str]:
    """settings.architectures as architecture -> model_type: standard transformers classes for
    sequence classification only (no custom code can be named); ARCHITECTURES when unset."""
    names = settings.get("architectures")
    if names is None:
        return dict(ARCHITECTURES)
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise InstructorError("settings.architectures of the homework rubric must list transformers classes, "
                              "e.g. [BertForSequenceClassification, DistilBertForSequenceClassification]")
    known = _sequence_classifiers()
    unknown = [n for n in names if n not in known]
    if unknown:
        raise InstructorError(f"settings.architectures names {', '.join(unknown)}, which transformers does not "
                              "have as a sequence-classification class (…ForSequenceClassification)")
    return {name: known[name] for name in names}


def _sequence_classifiers() -> dict[str, str]:
    """Every transformers architecture for sequence classification -> its model_type."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES

    return {cls: model_type for model_type, cls in MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES.items()
            if isinstance(cls, str)}


def _tokenizer_classes(model_types: set[str]) -> set[str]:
    """The default tokenizer classes, and those transformers pairs with an allowed model type."""
    extra = model_types - set(ARCHITECTURES.values())
    if not extra:
        return TOKENIZER_CLASSES
    from transformers.models.auto.tokenization_auto import TOKENIZER_MAPPING_NAMES

    found = set(TOKENIZER_CLASSES)
    for model_type in extra:
        names = TOKENIZER_MAPPING_NAMES.get(model_type)
        for name in names if isinstance(names, (tuple, list)) else (names,):
            if isinstance(name, str):
                found |= {name, name.removesuffix("Fast") + "Fast"}
    return found


def validate_model(folder: Path, settings: dict[str, Any], labels: Sequence[str] | None = None) -> ModelCheck:
    """Raise ModelRejected with an actionable message, or return what was checked.
    `labels`: the task's class names (the data's; default settings.labels)."""
    if not folder.is_dir():
        raise ModelRejected(f"no model folder: save your model with model.save_pretrained('{folder.name}') "
                            f"and tokenizer.save_pretrained('{folder.name}')")
    _no_links(folder)
    present = {p.name for p in folder.iterdir() if p.is_file()}
    if "config.json" not in present:
        raise ModelRejected("model/config.json is missing: save with model.save_pretrained('model')")
    if "model.safetensors" not in present:
        pickles = sorted(n for n in present if n.endswith(PICKLE_SUFFIXES))
        if pickles:
            raise ModelRejected(f"model/ holds only pickled weights ({', '.join(pickles)}); pickles can run code "
                                "and are never loaded: save with model.save_pretrained('model') "
                                "(safetensors, the default) so model.safetensors is written")
        if any(n.endswith(".safetensors") for n in present):
            raise ModelRejected("model/ holds sharded or renamed safetensors; save a single model.safetensors "
                                "(model.save_pretrained('model', max_shard_size='2GB'))")
        raise ModelRejected("model/model.safetensors is missing: save with model.save_pretrained('model')")
    config = _json(folder / "config.json")
    tokenizer_config = _json(folder / "tokenizer_config.json") if "tokenizer_config.json" in present else {}
    for name, data in (("config.json", config), ("tokenizer_config.json", tokenizer_config)):
        if _has_key(data, "auto_map"):
            raise ModelRejected(f"model/{name} has an auto_map: it asks for custom code, which is never run; "
                                "use a standard transformers class (e.g. AutoModelForSequenceClassification)")
    for key in ("custom_pipelines", "trust_remote_code"):
        if _has_key(config, key) or _has_key(tokenizer_config, key):
            raise ModelRejected(f"model/ config files set {key}: custom code is never run; save a standard model")
    attention = config.get("_attn_implementation", config.get("attn_implementation"))
    if attention not in (None, "eager", "sdpa"):  # other values can name kernels to fetch and run
        raise ModelRejected(f"model/config.json asks for attention implementation {attention!r}; "
                            "remove it (the grader uses the standard one)")
    names = tuple(str(n) for n in (labels if labels is not None else settings.get("labels") or ()))
    if len(names) < 2:
        raise InstructorError("the homework's label set is unknown: pass the data's labels or set settings.labels")
    allowed = allowed_architectures(settings)
    architecture = _architecture(config, allowed, len(names))
    id2label = _id2label(config)
    if len(id2label) != len(names):
        raise ModelRejected(f"the model has {len(id2label)} output labels, the task has {len(names)} "
                            f"({', '.join(names)}): load it with num_labels={len(names)}")
    weight_bytes = (folder / "model.safetensors").stat().st_size
    max_mb = float(settings.get("max_model_mb", DEFAULT_MAX_MODEL_MB))
    if weight_bytes > max_mb * 1024 * 1024:
        raise ModelRejected(f"model.safetensors is {weight_bytes / 2**20:.1f} MiB, over the limit of {max_mb:g} MiB; "
                            "fine-tune a smaller model")
    parameters, embedding_rows = _weights(folder / "model.safetensors")
    tokenizer_size = _tokenizer(folder, present, tokenizer_config, _tokenizer_classes(set(allowed.values())))
    rows = embedding_rows or int(config.get("vocab_size") or 0)
    if rows and tokenizer_size > rows:
        raise ModelRejected(f"the tokenizer does not match the model: it has {tokenizer_size} tokens, the model's "
                            f"embedding has {rows} rows; save the tokenizer you fine-tuned with "
                            "(tokenizer.save_pretrained('model'))")
    files = tuple(n for n in MODEL_FILES + TOKENIZER_FILES if n in present)
    return ModelCheck(files=files, architecture=architecture, num_labels=len(id2label), id2label=id2label,
                      weight_bytes=weight_bytes, parameters=parameters, tokenizer_size=tokenizer_size)


def _no_links(folder: Path) -> None:
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            if stat.S_ISLNK(Path(dirpath, name).lstat().st_mode):
                raise ModelRejected(f"model/{name} is a symbolic link; save the files themselves")


def _json(path: Path) -> dict[str, Any]:
    if path.stat().st_size > MAX_JSON_BYTES:
        raise ModelRejected(f"model/{path.name} is larger than {MAX_JSON_BYTES >> 20} MiB; is it the right file?")
    try:
        data = json.loads(path.read_bytes())
    except (ValueError, UnicodeDecodeError) as error:
        raise ModelRejected(f"model/{path.name} is not valid JSON ({error}); save the model again") from error
    if not isinstance(data, dict):
        raise ModelRejected(f"model/{path.name} is not a JSON object; save the model again")
    return data


def _has_key(data: Any, key: str) -> bool:
    if isinstance(data, dict):
        return key in data or any(_has_key(v, key) for v in data.values())
    if isinstance(data, list):
        return any(_has_key(v, key) for v in data)
    return False


def _architecture(config: dict[str, Any], allowed: dict[str, str], num_labels: int) -> str:
    architectures = config.get("architectures")
    if not isinstance(architectures, list) or len(architectures) != 1 or not isinstance(architectures[0], str):
        raise ModelRejected("model/config.json names no single architecture; save a model loaded with "
                            f"AutoModelForSequenceClassification.from_pretrained(..., num_labels={num_labels})")
    architecture = architectures[0]
    if architecture not in allowed:
        raise ModelRejected(f"architecture {architecture!r} is not accepted; use one of "
                            f"{', '.join(sorted(allowed))}")
    if config.get("model_type") != allowed[architecture]:
        raise ModelRejected(f"model/config.json says model_type {config.get('model_type')!r} for {architecture}; "
                            f"expected {allowed[architecture]!r}: save the model again")
    return architecture


def _id2label(config: dict[str, Any]) -> tuple[str, ...]:
    mapping = config.get("id2label")
    if isinstance(mapping, dict) and mapping:
        try:
            ids = sorted(mapping, key=int)
        except (TypeError, ValueError) as error:
            raise ModelRejected("model/config.json id2label has keys that are not class ids") from error
        if [int(i) for i in ids] != list(range(len(ids))):
            raise ModelRejected("model/config.json id2label must number classes 0..n-1")
        return tuple(str(mapping[i]) for i in ids)
    count = config.get("num_labels", 2)
    if not isinstance(count, int) or count < 1:
        raise ModelRejected("model/config.json has no usable id2label or num_labels")
    return tuple(f"LABEL_{i}" for i in range(count))


def _weights(path: Path) -> tuple[int, int]:
    """(parameter count, word-embedding rows); every tensor must be a finite float tensor."""
    import torch
    from safetensors import SafetensorError, safe_open

    parameters, rows = 0, 0
    try:
        with safe_open(str(path), framework="pt") as handle:
            for name in handle.keys():
                tensor = handle.get_tensor(name)
                parameters += tensor.numel()
                if name.endswith("word_embeddings.weight") and tensor.dim() == 2:
                    rows = tensor.shape[0]
                if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
                    bad = int((~torch.isfinite(tensor)).sum())
                    raise ModelRejected(f"the weights are broken: {name} holds {bad} NaN or infinite values "
                                        "(training diverged? lower the learning rate, check the loss)")
    except (SafetensorError, OSError, ValueError, RuntimeError) as error:
        raise ModelRejected(f"model.safetensors cannot be read ({error}); save the model again") from error
    if parameters == 0:
        raise ModelRejected("model.safetensors holds no weights; save the model again")
    return parameters, rows


def _tokenizer(folder: Path, present: set[str], tokenizer_config: dict[str, Any], classes: set[str]) -> int:
    """The tokenizer's size (highest token id + 1), after refusing what would load anything else."""
    cls = tokenizer_config.get("tokenizer_class")
    if cls is not None and cls not in classes:
        raise ModelRejected(f"tokenizer_class {cls!r} is not accepted; save the tokenizer you loaded with "
                            "AutoTokenizer (e.g. BertTokenizerFast)")
    for key, value in tokenizer_config.items():
        if key.endswith(("_file", "_files")) and value is not None:
            raise ModelRejected(f"tokenizer_config.json sets {key}; tokenizer files must sit in model/ under "
                                "their standard names: save with tokenizer.save_pretrained('model')")
    if "tokenizer.json" in present:
        data = _json(folder / "tokenizer.json")
        model = data.get("model") if isinstance(data.get("model"), dict) else {}
        vocab = model.get("vocab")
        ids: list[int] = []
        if isinstance(vocab, dict):
            ids = [v for v in vocab.values() if isinstance(v, int)]
        elif isinstance(vocab, list):
            ids = [len(vocab) - 1]
        ids += [t.get("id") for t in data.get("added_tokens") or [] if isinstance(t, dict) and isinstance(t.get("id"), int)]
        if not ids:
            raise ModelRejected("model/tokenizer.json holds no vocabulary; save the tokenizer again")
        return max(ids) + 1
    if "vocab.txt" in present:
        with open(folder / "vocab.txt", "rb") as handle:
            return sum(1 for _ in handle)
    if "vocab.json" in present:
        vocab = _json(folder / "vocab.json")
        return max((v for v in vocab.values() if isinstance(v, int)), default=-1) + 1
    if present & {"spm.model", "sentencepiece.bpe.model", "spiece.model"}:
        return 0  # sizes checked in the sandbox, where the tokenizer is loaded
    raise ModelRejected("model/ holds no tokenizer; save it next to the model: tokenizer.save_pretrained('model')")
