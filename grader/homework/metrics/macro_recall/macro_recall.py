"""Macro recall (balanced accuracy): the unweighted mean over classes of TP / (TP + FN).
Loaded by path, offline."""

import datasets
import evaluate


class MacroRecall(evaluate.Metric):
    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description="macro-averaged recall over the classes 0..num_classes-1; higher is better; range [0, 1]",
            citation="",
            inputs_description="predictions, references: class ids (int); num_classes: int",
            features=datasets.Features({"predictions": datasets.Value("int32"),
                                        "references": datasets.Value("int32")}),
        )

    def _compute(self, predictions: list[int], references: list[int], num_classes: int = 2) -> dict[str, float]:
        scores = []
        for c in range(num_classes):
            tp = sum(1 for p, r in zip(predictions, references) if p == c and r == c)
            support = sum(1 for r in references if r == c)
            scores.append(tp / support if support else 0.0)
        return {"macro_recall": sum(scores) / num_classes}
