"""pipeline/pool.py end_forkserver: `grade run` ends its forkserver as it exits, and a later run gets a new one."""

from __future__ import annotations

from multiprocessing import forkserver

from grader.pipeline.pool import _forkserver, end_forkserver
from grader.sandbox.bwrap import process_alive


def _square(value: int) -> int:
    return value * value


def test_the_forkserver_ends_at_once_and_a_new_one_serves_the_next_pool() -> None:
    context = _forkserver()
    pid = forkserver._forkserver._forkserver_pid  # type: ignore[attr-defined]
    assert pid is not None and process_alive(pid)
    end_forkserver()
    assert not process_alive(pid)  # reaped, not a zombie holding the command's stdout
    assert forkserver._forkserver._forkserver_pid is None  # type: ignore[attr-defined]
    end_forkserver()  # nothing to end: no error
    with context.Pool(1) as pool:  # the next pool in this process starts a new forkserver
        assert pool.map(_square, [3]) == [9]
    assert forkserver._forkserver._forkserver_pid not in (None, pid)  # type: ignore[attr-defined]
