"""The class's score distribution as bar geometry for an inline SVG (no script, no library).

Each student's score is their share of the points of every assignment they have a grade for;
the bars count students per tenth (the last bar holds exactly 100 %).
"""

from __future__ import annotations

from collections.abc import Sequence

from grader.reports.contexts import ChartBar, ScoreChart

WIDTH, HEIGHT = 560, 200
_LEFT, _TOP, _BOTTOM = 10, 20, 30  # room for the counts above and the labels below the bars
BINS = 10


def score_chart(shares: Sequence[float]) -> ScoreChart | None:
    """Bars for students' shares (0..1) of their possible points; None for an empty class."""
    if not shares:
        return None
    counts = [0] * BINS
    for share in shares:
        counts[min(BINS - 1, max(0, int(share * BINS)))] += 1
    tallest = max(counts)
    slot = (WIDTH - 2 * _LEFT) // BINS
    baseline = HEIGHT - _BOTTOM
    room = baseline - _TOP
    bars = []
    for i, count in enumerate(counts):
        height = round(room * count / tallest) if tallest else 0
        low, high = i * 100 // BINS, (i + 1) * 100 // BINS
        label = f"{low}–{high}%" if i == BINS - 1 else f"{low}–{high - 1}%"
        x = _LEFT + i * slot + 4
        bars.append(
            ChartBar(
                x=x,
                y=baseline - height,
                width=slot - 8,
                height=height,
                label=label,
                label_x=x + (slot - 8) // 2,
                count=count,
                count_y=baseline - height - 5,
                title=f"{count} student{'s' if count != 1 else ''} scored {label}",
            )
        )
    mean = 100 * sum(shares) / len(shares)
    return ScoreChart(
        width=WIDTH,
        height=HEIGHT,
        baseline=baseline,
        label_y=HEIGHT - 10,
        bars=tuple(bars),
        caption=f"{len(shares)} students; mean {mean:.0f}% of the points of their assignments.",
    )
