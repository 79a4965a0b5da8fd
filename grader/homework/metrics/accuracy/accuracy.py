"""Accuracy: the fraction of predictions equal to the reference label. Loaded by path, offline."""

import datasets
import evaluate


class Accuracy(evaluate.Metric):
    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description="accuracy = correct / total; higher is better; range [0, 1]",
            citation="",
            inputs_description="predictions, references: class ids (int)",
            features=datasets.Features({"predictions": datasets.Value("int32"),
                                        "references": datasets.Value("int32")}),
        )

    def _compute(self, predictions: list[int], references: list[int]) -> dict[str, float]:
        correct = sum(int(p == r) for p, r in zip(predictions, references))
        return {"accuracy": correct / len(references) if references else 0.0}
