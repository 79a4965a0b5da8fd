"""The failed-login limiter: a sliding window per key, bounded memory."""

from __future__ import annotations

from grader.web.limiter import FailureLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_key_waits_after_limit_failures_until_the_oldest_leaves_the_window() -> None:
    clock = Clock()
    limiter = FailureLimiter(3, 60, clock=clock)
    for _ in range(2):
        limiter.fail("tara")
        clock.now += 10
    assert limiter.wait("tara") == 0
    limiter.fail("tara")
    assert limiter.wait("tara") == 40  # the first failure, at 1000, leaves the window at 1060
    assert limiter.wait("ingrid") == 0
    clock.now = 1060
    assert limiter.wait("tara") == 0
    limiter.fail("tara")
    assert limiter.wait("tara") == 10  # the second, at 1010, leaves at 1070


def test_forget_clears_a_key() -> None:
    limiter = FailureLimiter(1, 60, clock=Clock())
    limiter.fail("tara")
    assert limiter.wait("tara") > 0
    limiter.forget("tara")
    assert limiter.wait("tara") == 0


def test_memory_is_bounded_and_the_least_recent_key_goes_first() -> None:
    limiter = FailureLimiter(2, 60, max_keys=100, clock=Clock())
    for i in range(10_000):
        limiter.fail(f"made-up-{i}")
    assert len(limiter) == 100
    limiter.fail("made-up-9999")
    assert limiter.wait("made-up-9999") > 0 and limiter.wait("made-up-0") == 0
