"""`--cluster ADDRESS`: the same grading tasks on a Dask distributed scheduler.

The coordinator (the `grade` process) discovers, decides what to reuse, submits one
task per submission, and is the only process that writes the database; workers run
the sandboxes and send back `Graded` values. `local:N` starts a LocalCluster of N
worker processes on this machine; any other address is a running scheduler (for
example one that dask-jobqueue started under Slurm, see docs/cluster.md). A task's
InstructorError (the course is wrong) cancels the rest and is raised, as in the local pool.

Sandbox slots on a worker host come from `claim_slot` (a file lock per slot), one per
worker thread, so workers on one host never share a uid. An assignment whose kind
wants a GPU (the homework's model scoring) asks for the worker resource `GPU` when any
worker advertises it.
"""

from __future__ import annotations

import os
import threading
from dataclasses import replace
from typing import Any, Iterator

from grader.course.assignments import Assignment, Course
from grader.errors import GradeError, InstructorError
from grader.models import Submission
from grader.options import GradingOptions
from grader.pipeline.submission import Graded, grade_and_time, grader_failure
from grader.sandbox.bwrap import claim_slot, remove_stale_cgroups

GPU = "GPU"
CONNECT_TIMEOUT_S = 60
_local = threading.local()  # one sandbox slot per worker thread, held for the thread's life
_cleaned = threading.Lock()
_cleaned_pids: set[int] = set()


def run_on_cluster(todo: list[Submission], course: Course, options: GradingOptions) -> Iterator[Graded]:
    """Yield results in the order they finish on the cluster's workers."""
    if not todo:
        return
    from distributed import Client, as_completed

    address = options.cluster or ""
    cluster = _local_cluster(address) if address.startswith("local:") else None
    try:
        client = Client(cluster if cluster is not None else address, timeout=CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError) as error:
        if cluster is not None:
            cluster.close()
        raise GradeError(f"cannot reach the Dask scheduler at {address}: {error}; "
                         "start it first (docs/cluster.md) or use --cluster local:N") from error
    try:
        client.wait_for_workers(1, timeout=CONNECT_TIMEOUT_S)
        workers = client.scheduler_info(n_workers=-1)["workers"] if _accepts_n_workers(client) \
            else client.scheduler_info()["workers"]
        tasks = _tasks_by_host(workers.values())
        has_gpu = any(w.get("resources", {}).get(GPU) for w in workers.values())
        futures = {}
        for submission in todo:
            assignment = course.assignments[submission.assignment]
            wants_gpu = has_gpu and assignment.kind.wants_gpu
            future = client.submit(grade_task, submission, assignment, options, tasks, pure=False,
                                   resources={GPU: 1} if wants_gpu else None,
                                   key=f"grade-{submission.student}-{submission.assignment}-{os.urandom(4).hex()}")
            futures[future.key] = (future, submission)
        for future in as_completed([f for f, _ in futures.values()]):
            _, submission = futures[future.key]
            try:
                yield future.result()
            except InstructorError:
                # The course is wrong, not this submission: no task still queued runs.
                client.cancel([f for f, _ in futures.values()])
                raise
            except Exception as error:  # noqa: BLE001 - a worker died on it (KilledWorker) or could not run it
                yield Graded(grader_failure(submission, course.assignments[submission.assignment], error), {})
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def grade_task(submission: Submission, assignment: Assignment, options: GradingOptions,
               tasks_by_host: dict[str, int]) -> Graded:
    """Runs on a worker: one submission in a sandbox of this thread's slot.

    Torch threads: this host's CPUs shared by the tasks it runs at once, so workers
    side by side do not oversubscribe it (the same rule as `--jobs`)."""
    _clean_once()
    threads = max(1, (os.cpu_count() or 1) // max(1, tasks_by_host.get(_this_host(), 1)))
    slot = getattr(_local, "slot", None)
    if slot is None:
        slot, _local.lock_fd = claim_slot()
        _local.slot = slot
        import torch

        torch.set_num_threads(threads)
    options = replace(options, limits=replace(options.limits, torch_threads=threads))
    return grade_and_time(submission, assignment, options, slot)


def _local_cluster(address: str) -> Any:
    from distributed import LocalCluster

    try:
        workers = int(address.split(":", 1)[1])
    except ValueError:
        raise GradeError(f"--cluster {address}: expected local:N with N the number of workers, e.g. local:2") from None
    # One task per worker process at a time; no memory limit from Dask (the sandbox's
    # cgroup caps each kernel), no dashboard (nothing should listen on a port here).
    return LocalCluster(n_workers=max(1, workers), threads_per_worker=1, processes=True, memory_limit=0,
                        dashboard_address=None, silence_logs=40)


def _tasks_by_host(workers: Any) -> dict[str, int]:
    """How many tasks each host runs at once (its workers' threads, summed)."""
    tasks: dict[str, int] = {}
    for worker in workers:
        host = str(worker.get("host", ""))
        tasks[host] = tasks.get(host, 0) + int(worker.get("nthreads", 1))
    return tasks


def _this_host() -> str:
    from distributed import get_worker

    try:
        return str(get_worker().address.rsplit("//", 1)[-1].rsplit(":", 1)[0])
    except ValueError:
        return ""


def _accepts_n_workers(client: Any) -> bool:
    import inspect

    return "n_workers" in inspect.signature(client.scheduler_info).parameters


def _clean_once() -> None:
    """A worker host cleans the cgroups its killed predecessors left, once per process."""
    with _cleaned:
        if os.getpid() not in _cleaned_pids:
            _cleaned_pids.add(os.getpid())
            remove_stale_cgroups()
