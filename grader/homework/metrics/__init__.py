"""The registry of metrics a homework rubric may name: `evaluate` metric modules shipped here.

`evaluate.load("accuracy")` looks on the hub, which is never reached; each metric is a module
of ours, a folder `<name>/<name>.py` defining an `evaluate.Metric`, loaded by path. A
rubric's `settings.metrics` lists the ones to compute (default: DEFAULT_METRICS), and
`settings.scoring` may turn any scalar one into points. A new metric is a folder here and
one line below.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

METRICS_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Metric:
    name: str  # the settings name, the module's folder, and the key its result holds
    title: str  # in messages: "macro F1"
    scalar: bool = True  # a number in [0, 1], higher is better: scoring may use it
    per_class: bool = False  # compute() takes num_classes

    @property
    def path(self) -> Path:
        return METRICS_DIR / self.name


REGISTRY = {m.name: m for m in (
    Metric("accuracy", "accuracy"),
    Metric("macro_f1", "macro F1", per_class=True),  # also per_class_f1: one F1 per class
    Metric("weighted_f1", "weighted F1", per_class=True),
    Metric("macro_precision", "macro precision", per_class=True),
    Metric("macro_recall", "macro recall", per_class=True),
    Metric("confusion_matrix", "confusion matrix", scalar=False, per_class=True),
)}
DEFAULT_METRICS = ("accuracy", "macro_f1", "confusion_matrix")
