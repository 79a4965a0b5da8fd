"""Confusion matrix: rows are the reference class, columns the predicted class. Loaded by path, offline."""

import datasets
import evaluate


class ConfusionMatrix(evaluate.Metric):
    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description="counts[reference][prediction] over classes 0..num_classes-1",
            citation="",
            inputs_description="predictions, references: class ids (int); num_classes: int",
            features=datasets.Features({"predictions": datasets.Value("int32"),
                                        "references": datasets.Value("int32")}),
        )

    def _compute(self, predictions: list[int], references: list[int], num_classes: int = 2) -> dict[str, object]:
        counts = [[0] * num_classes for _ in range(num_classes)]
        for p, r in zip(predictions, references):
            counts[r][p] += 1
        return {"confusion_matrix": counts}
