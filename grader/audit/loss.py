"""What a caught mutant costs: the points it loses in each rubric part, as a share of the part and of the notebook.

A mutant's part is the part in which it lost the most points (the first in rubric order on a
tie), read from its grade. This is exact, where the part whose tests mention the mutated
function (grader/audit/coverage.py) is a guess from the test files' source; the two agree
for a mistake whose tests are all in the part that asks for the function.
"""

from __future__ import annotations

from dataclasses import dataclass

from grader.models import Grade

SMALL_LOSS = 0.1  # a caught mutant losing under this share of the notebook is a nearly free mistake


@dataclass(frozen=True)
class PartLoss:
    part: str
    lost: float  # points lost in the part, from-scratch deductions included
    points: float  # the part's points

    @property
    def share(self) -> float:
        """The loss as a share of the part's points (1.0 for a part worth nothing that still lost)."""
        return self.lost / self.points if self.points else 1.0


def part_losses(grade: Grade | None) -> tuple[PartLoss, ...]:
    """Every part of the grade's rubric in which points were lost, in rubric order."""
    if grade is None:
        return ()
    lost: dict[str, float] = {}
    points: dict[str, float] = {}
    for test in grade.tests:
        lost[test.part] = lost.get(test.part, 0.0) + test.max_points - test.points
        points[test.part] = points.get(test.part, 0.0) + test.max_points
    return tuple(PartLoss(part, round(lost[part], 4), round(points[part], 4)) for part in lost if lost[part] > 1e-9)


def main_part(losses: tuple[PartLoss, ...]) -> PartLoss | None:
    """The part in which the mutant lost the most points; None when it lost none."""
    return max(losses, key=lambda loss: loss.lost, default=None)


def share_of(lost: float, max_score: float) -> float:
    return lost / max_score if max_score else 1.0
