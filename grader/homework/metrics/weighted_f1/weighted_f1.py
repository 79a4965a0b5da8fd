"""Weighted F1: the per-class F1 averaged with each class weighted by its share of the
references. Loaded by path, offline."""

import datasets
import evaluate


class WeightedF1(evaluate.Metric):
    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description="F1 per class 0..num_classes-1, averaged weighted by support; higher is better; range [0, 1]",
            citation="",
            inputs_description="predictions, references: class ids (int); num_classes: int",
            features=datasets.Features({"predictions": datasets.Value("int32"),
                                        "references": datasets.Value("int32")}),
        )

    def _compute(self, predictions: list[int], references: list[int], num_classes: int = 2) -> dict[str, float]:
        total, n = 0.0, len(references)
        for c in range(num_classes):
            tp = sum(1 for p, r in zip(predictions, references) if p == c and r == c)
            fp = sum(1 for p, r in zip(predictions, references) if p == c and r != c)
            fn = sum(1 for p, r in zip(predictions, references) if p != c and r == c)
            f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
            total += f1 * (tp + fn)  # tp + fn: the class's support
        return {"weighted_f1": total / n if n else 0.0}
