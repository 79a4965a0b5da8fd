"""Macro F1: the unweighted mean over classes of F1 = 2PR/(P+R), so the minority class counts
as much as the majority (a model that always predicts the majority class scores low). Loaded by path, offline."""

import datasets
import evaluate


class MacroF1(evaluate.Metric):
    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description="macro-averaged F1 over the classes 0..num_classes-1; higher is better; range [0, 1]",
            citation="",
            inputs_description="predictions, references: class ids (int); num_classes: int",
            features=datasets.Features({"predictions": datasets.Value("int32"),
                                        "references": datasets.Value("int32")}),
        )

    def _compute(self, predictions: list[int], references: list[int], num_classes: int = 2) -> dict[str, object]:
        scores = []
        for c in range(num_classes):
            tp = sum(1 for p, r in zip(predictions, references) if p == c and r == c)
            fp = sum(1 for p, r in zip(predictions, references) if p == c and r != c)
            fn = sum(1 for p, r in zip(predictions, references) if p != c and r == c)
            scores.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)  # F1 = 2TP / (2TP + FP + FN)
        return {"macro_f1": sum(scores) / num_classes, "per_class_f1": scores}
