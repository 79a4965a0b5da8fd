"""GradingOptions: the run's decision to fork the homework's scorers from a warm template."""

from __future__ import annotations

import pytest

from grader.options import GradingOptions


@pytest.mark.parametrize(("warm_kernels", "jobs", "models", "warm"), [
    (True, 2, 0, False),  # nothing to score: no template
    (True, 2, 2, False),  # one model per worker: the template would cost more than the cold start it saves
    (True, 2, 3, True),   # a worker scores a second model: the template pays
    (True, 1, 2, True),
    (False, 1, 20, False),  # --kernel-start cold: every start cold
])
def test_scorers_start_warm_only_when_a_worker_scores_more_than_one_model(
        warm_kernels: bool, jobs: int, models: int, warm: bool) -> None:
    options = GradingOptions(jobs=jobs, warm_kernels=warm_kernels).scorers_warm_for(models)
    assert options.warm_scorers is warm


def test_a_decision_already_made_is_kept() -> None:
    assert GradingOptions(jobs=8, warm_scorers=True).scorers_warm_for(1).warm_scorers is True
    assert GradingOptions(jobs=1, warm_scorers=False).scorers_warm_for(50).warm_scorers is False
