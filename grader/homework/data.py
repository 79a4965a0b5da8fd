"""The homework's data: labelled texts the rubric's settings name, for training and for scoring.

Two sets, each either a CSV file with a header (columns `text` and `label`; other columns are
kept in the file and ignored here) or a HuggingFace `datasets` Dataset saved with
`save_to_disk` (a folder), paths relative to the course root:

    settings.train     released to students by `grade release` (optional)
    settings.heldout   what models are scored on; never released, never in a sandbox

The label set: `settings.labels` lists the class names in class-id order, and a label in the
data is then a name from it or a class id. Without it the names come from the data: a
dataset's ClassLabel feature, else the distinct string labels of both sets in sorted order
(ids follow that order), else class ids 0..max as names. A task has two classes or more.
"""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from grader.errors import InstructorError, course_file

if TYPE_CHECKING:
    from grader.course.assignments import Assignment

TEXT_COLUMN = "text"
LABEL_COLUMN = "label"
DEFAULT_EXAMPLES = "examples"  # what a message calls the held-out items unless settings.examples says


@dataclass(frozen=True)
class HeldOut:
    """Labelled texts. For the held-out set the texts go into the sandbox; labels never leave the
    trusted process."""

    texts: tuple[str, ...]
    labels: tuple[int, ...]
    label_names: tuple[str, ...]
    source: str  # where it came from, for reports: the setting's path
    split_hash: str  # sha256 over every (text, label): recorded with each score

    @property
    def majority_accuracy(self) -> float:
        counts = [self.labels.count(i) for i in range(len(self.label_names))]
        return max(counts) / len(self.labels)


@dataclass(frozen=True)
class _Raw:
    texts: tuple[str, ...]
    labels: tuple[str | int, ...]  # as found: a CSV's strings, a dataset's ints or strings
    class_names: tuple[str, ...] | None  # a dataset's ClassLabel names


def split_hash(texts: tuple[str, ...] | list[str], labels: tuple[int, ...] | list[int]) -> str:
    digest = hashlib.sha256()
    for text, label in zip(texts, labels, strict=True):
        digest.update(json.dumps([text, label]).encode() + b"\n")
    return digest.hexdigest()


def data_path(settings: dict[str, Any], key: str, course_root: Path) -> Path | None:
    """settings[key] as a path (relative ones from the course root); None when unset."""
    value = settings.get(key)
    if value is None:
        return None
    path = Path(str(value))
    return path if path.is_absolute() else course_root / path


def examples_word(settings: dict[str, Any]) -> str:
    """What the held-out items are called in messages (settings.examples, e.g. `reviews`)."""
    return str(settings.get("examples") or DEFAULT_EXAMPLES)


def label_names(settings: dict[str, Any], course_root: Path) -> tuple[str, ...]:
    """The task's classes in class-id order: settings.labels, else read from the data."""
    return load_set(settings, course_root, "heldout").label_names


def load_heldout(settings: dict[str, Any], course_root: Path) -> HeldOut:
    """The held-out set named by settings.heldout."""
    return load_set(settings, course_root, "heldout")


def load_train(settings: dict[str, Any], course_root: Path) -> HeldOut | None:
    """The training set named by settings.train; None when the rubric names none."""
    if settings.get("train") is None:
        return None
    return load_set(settings, course_root, "train")


def load_set(settings: dict[str, Any], course_root: Path, key: str) -> HeldOut:
    """One set (`train` or `heldout`), its labels as class ids of the task's label set."""
    path = data_path(settings, key, course_root)
    if path is None:
        raise InstructorError(f"the homework rubric names no settings.{key}: point it at a CSV with columns "
                              "text,label or a folder written by Dataset.save_to_disk (relative to the course root)")
    raw = _read_setting(settings, key, path)
    names = _names(settings, course_root)
    try:
        labels = tuple(_class_id(value, names, raw.class_names) for value in raw.labels)
    except ValueError as error:
        raise InstructorError(f"the homework data {course_file(path)} (settings.{key}): {error}; fix the data "
                              "or settings.labels") from None
    if not raw.texts:
        raise InstructorError(f"the homework data {course_file(path)} (settings.{key}) holds no examples; "
                              "point the setting at a CSV with columns text,label")
    return HeldOut(texts=raw.texts, labels=labels, label_names=names, source=str(settings[key]),
                   split_hash=split_hash(raw.texts, labels))


def _names(settings: dict[str, Any], course_root: Path) -> tuple[str, ...]:
    given = settings.get("labels")
    if given is not None:
        if not isinstance(given, list) or not all(isinstance(n, (str, int)) for n in given):
            raise InstructorError("settings.labels of the homework rubric must list the class names in class-id "
                                  "order, e.g. labels: [negative, positive]")
        names = tuple(str(n) for n in given)
    else:
        names = _names_from_data(settings, course_root)
    if len(names) < 2 or len(set(names)) != len(names):
        raise InstructorError(f"the homework's label set {list(names)} needs two or more distinct classes; fix "
                              "settings.labels or the data's label column")
    return names


def _names_from_data(settings: dict[str, Any], course_root: Path) -> tuple[str, ...]:
    raws = []
    for key in ("heldout", "train"):
        path = data_path(settings, key, course_root)
        if path is not None:
            raws.append(_read_setting(settings, key, path))
    declared = next((r.class_names for r in raws if r.class_names), None)
    if declared:
        return declared
    values = {v for r in raws for v in r.labels}
    if all(isinstance(v, int) or str(v).isdigit() for v in values):
        return tuple(str(i) for i in range(max((int(v) for v in values), default=-1) + 1))
    if any(isinstance(v, int) or str(v).isdigit() for v in values):
        raise InstructorError("the homework data mixes class ids and class names in its label column; use one, "
                              "or list the names in settings.labels")
    return tuple(sorted(str(v) for v in values))


def _class_id(value: str | int, names: tuple[str, ...], class_names: tuple[str, ...] | None) -> int:
    if isinstance(value, int) and class_names:  # a ClassLabel id: by its name when the task names differ
        name = class_names[value] if 0 <= value < len(class_names) else None
        if name in names:
            return names.index(name)
    text = str(value).strip()
    if text in names:
        return names.index(text)
    if text.isdigit() and int(text) < len(names):
        return int(text)
    raise ValueError(f"label {text!r} is neither a class id below {len(names)} nor one of {list(names)}")


def _read_setting(settings: dict[str, Any], key: str, path: Path) -> _Raw:
    text_column = str(settings.get("text_column", TEXT_COLUMN))
    label_column = str(settings.get("label_column", LABEL_COLUMN))
    try:
        stat = path.stat()
        return _read(str(path.resolve()), stat.st_mtime_ns, stat.st_size, text_column, label_column)
    except (OSError, ValueError, csv.Error) as error:  # UnicodeDecodeError is a ValueError
        raise InstructorError(f"the homework data {course_file(path)} (settings.{key} of the homework rubric) "
                              f"cannot be read: {error}; fix the file or the setting") from None


@lru_cache(maxsize=8)
def _read(path: str, mtime_ns: int, size: int, text_column: str, label_column: str) -> _Raw:
    """A CSV file or a saved Dataset folder, cached while the file is unchanged."""
    if Path(path).is_dir():
        return _read_dataset(Path(path), text_column, label_column)
    texts: list[str] = []
    labels: list[str | int] = []
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or not {text_column, label_column} <= set(reader.fieldnames):
            raise ValueError(f"{path} needs the columns {text_column},{label_column} (found {reader.fieldnames})")
        for line, row in enumerate(reader, start=2):
            label = (row[label_column] or "").strip()
            if not label:
                raise ValueError(f"{path}, line {line}: no label")
            texts.append(row[text_column] or "")
            labels.append(label)
    return _Raw(tuple(texts), tuple(labels), None)


def _read_dataset(path: Path, text_column: str, label_column: str) -> _Raw:
    """A folder written by `Dataset.save_to_disk` (one split; a DatasetDict is refused)."""
    import datasets

    try:
        data = datasets.load_from_disk(str(path))
    except FileNotFoundError as error:
        raise ValueError(f"{path} is not a folder written by Dataset.save_to_disk ({error})") from None
    if not isinstance(data, datasets.Dataset):
        raise ValueError(f"{path} holds several splits ({', '.join(data)}); save one split, e.g. "
                         "dataset['test'].save_to_disk(...)")
    missing = {text_column, label_column} - set(data.column_names)
    if missing:
        raise ValueError(f"{path} needs the columns {text_column},{label_column} (found {data.column_names})")
    feature = data.features[label_column]
    class_names = tuple(str(n) for n in feature.names) if isinstance(feature, datasets.ClassLabel) else None
    texts = tuple(str(t or "") for t in data[text_column])
    labels = tuple(v if isinstance(v, int) else str(v) for v in data[label_column])
    return _Raw(texts, labels, class_names)


def heldout_fingerprint(assignment: Assignment) -> str:
    """What a homework score depends on besides the submission and the rubric: the held-out
    set's hash, the label names when the data (not the rubric) gives them, and the inference
    script, so changing any of them re-grades every model."""
    settings = assignment.rubric.settings
    heldout = load_heldout(settings, assignment.course_root)
    script = Path(__file__).with_name("infer.py").read_bytes()
    names = b"" if settings.get("labels") is not None else b"\0" + json.dumps(heldout.label_names).encode()
    return hashlib.sha256(heldout.split_hash.encode() + b"\0" + script + names).hexdigest()
