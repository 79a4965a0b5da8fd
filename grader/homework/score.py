"""Score a validated model on the held-out set: inference in the sandbox, metrics outside it.

Only the texts cross into the sandbox (a JSON list); only logits come back (safetensors,
shape-checked). Labels stay in this process. Inside the sandbox: the model folder bound
read-only at /homework/model, the texts read-only at /homework/texts.json, the held-out data
masked where the sandbox would otherwise see it (a dataset inside an installed package), GPUs
bound when the host has them, and a wall-clock limit enforced from here. It runs in the sandbox's
Python (when grading, the students' environment, as their kernels do), started cold through bwrap or
forked warm from a template that imported transformers ahead (grader/homework/warm_scorer.py).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from grader.homework.data import HeldOut
from grader.homework.metrics import DEFAULT_METRICS, REGISTRY
from grader.homework.scorer_sandbox import extra_mounts, gpu_env, gpus_offered, quiet_env
from grader.homework.scorer_sandbox import visible_in_sandbox, with_extra_binds  # noqa: F401 - this module's API too
from grader.homework.warm_scorer import Finished, run_warm, scorer_template
from grader.homework.validate import ARCHITECTURES, allowed_architectures
from grader.kernel.template import KernelTemplate, TemplateError
from grader.sandbox.bwrap import Limits, Sandbox, SandboxPaths

INFER_SCRIPT = Path(__file__).with_name("infer.py")
SANDBOX_ROOT = Path("/homework")
MAX_LOGITS_BYTES = 64 * 1024 * 1024
log = logging.getLogger("grade")


class InferenceFailed(Exception):
    """The model loaded or ran badly; the message is for the student."""


class InferenceTimeout(InferenceFailed):
    pass


@dataclass(frozen=True)
class InferenceSettings:
    max_length: int = 128
    max_tokens: int = 8192
    max_batch: int = 256
    threads: int = 1
    device: str = "auto"  # auto: CUDA (bf16) when the host has one, CPU otherwise
    timeout_s: float = 300.0
    # settings.architectures (architecture -> model_type): what the warm scorer's template imports ahead
    architectures: tuple[tuple[str, str], ...] = tuple(ARCHITECTURES.items())

    @staticmethod
    def from_settings(settings: dict[str, Any], limits: Limits) -> "InferenceSettings":
        return InferenceSettings(
            max_length=int(settings.get("max_length", 128)),
            max_tokens=int(settings.get("max_tokens", 8192)),
            max_batch=int(settings.get("max_batch", 256)),
            threads=int(settings.get("threads", max(1, limits.torch_threads))),
            device=str(os.environ.get("GRADE_DEVICE", settings.get("device", "auto"))),
            timeout_s=min(float(settings.get("inference_timeout_s", limits.submission_timeout_s)),
                          limits.submission_timeout_s),  # grade --timeout caps it too
            architectures=tuple(allowed_architectures(settings).items()),
        )


@dataclass(frozen=True)
class Inference:
    logits: list[list[float]]  # (N, C), held-out order
    facts: dict[str, Any]  # device, dtype, load/infer seconds
    seconds: float


def run_inference(model_files: Path, texts: tuple[str, ...], run: InferenceSettings, *,
                  sandbox: Sandbox | None, limits: Limits, script: Path = INFER_SCRIPT,
                  hide: tuple[Path, ...] = (), warm: bool = False) -> Inference:
    """Start infer.py (sandboxed unless sandbox is None) on the texts; return the checked logits.
    `hide`: the held-out data's files, masked should the sandbox see them. `warm`: fork the sandboxed
    scorer from this worker's template (grader/homework/warm_scorer.py), else start it cold through
    bwrap (also when the template cannot start); the same sandbox, limits and checks either way.
    `script` is replaceable only so the tests can probe the sandbox with their own code."""
    scratch = Path(tempfile.mkdtemp(prefix="grade-hw-"))
    try:
        paths = SandboxPaths(workdir=scratch / "work", runtime=scratch / "run")
        paths.workdir.mkdir()
        paths.runtime.mkdir()
        inputs = scratch / "inputs"  # root-owned, read-only to the sandbox uid
        inputs.mkdir()
        shutil.copytree(model_files, inputs / "model")
        shutil.copy2(script, inputs / "infer.py")
        (inputs / "texts.json").write_text(json.dumps(list(texts)), encoding="utf-8")
        _read_only(inputs)
        out = paths.workdir / "out"
        gpu = sandbox is not None and uses_gpu(run)
        # The worker's template, started on its first use: its imports are the worker's, not this model's time.
        template = (scorer_template(sandbox, run.threads, gpu, run.architectures)
                    if warm and sandbox is not None else None)
        started = time.monotonic()
        memory_hit = False
        if sandbox is not None:
            if gpu:  # CUDA reserves address space far beyond any RLIMIT_AS; the cgroup still caps memory
                sandbox = Sandbox(sandbox.slot, replace(sandbox.limits, address_space_bytes=None), sandbox.interpreter)
            sandbox.prepare(paths)
            try:
                done = _run_sandboxed(sandbox, paths, inputs, run, gpu=gpu, hide=hide, template=template,
                                      stderr=scratch / "stderr.log")
                memory_hit = sandbox.memory_limit_hit()  # before cleanup() removes the cgroup that counted it
            finally:
                sandbox.cleanup()
        else:
            env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(paths.workdir), "HF_HUB_OFFLINE": "1",
                   "HF_HOME": str(paths.workdir / ".hf"), **quiet_env(run.threads)}
            done = _run_cold([sys.executable, "-I", *_script_argv(inputs, out, run)], paths.workdir, env, run)
        seconds = time.monotonic() - started
        status = _status(out / "status.json")
        if not status.get("ok"):
            why = status.get("error") or done.stderr.decode(errors="replace").strip()[-500:] or f"exit {done.returncode}"
            if memory_hit:
                why = f"it ran out of memory ({limits.memory_bytes >> 20} MiB)"
            raise InferenceFailed(f"the model could not be run on the held-out set: {why}")
        return Inference(logits=_logits(out / "logits.safetensors", len(texts)), facts=status, seconds=seconds)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _run_sandboxed(sandbox: Sandbox, paths: SandboxPaths, inputs: Path, run: InferenceSettings, *, gpu: bool,
                   hide: tuple[Path, ...], template: KernelTemplate | None, stderr: Path) -> Finished:
    """infer.py in the sandbox, in the sandbox's Python (the students' environment when grading):
    forked from `template`, else (or when the fork fails) started cold through bwrap."""
    script_argv = _script_argv(SANDBOX_ROOT, paths.workdir / "out", run)
    env = sandbox.environment(paths.workdir) | quiet_env(run.threads) | (gpu_env() if gpu else {})
    mounts = extra_mounts(inputs, SANDBOX_ROOT, gpu=gpu, hide=hide, interpreter=sandbox.interpreter)
    if template is not None:
        try:
            return run_warm(template, sandbox, paths, env, script_argv, mounts, run.timeout_s, stderr)
        except TemplateError as error:  # nothing of the submission ran: the same sandbox, started the slow way
            log.warning("%s; scoring this model cold, through bwrap", error)
        except subprocess.TimeoutExpired as error:
            raise _timeout(run) from error
    command = with_extra_binds(sandbox.wrap([str(sandbox.interpreter.executable), "-I", *script_argv], paths, env),
                               inputs, SANDBOX_ROOT, gpu=gpu, hide=hide, interpreter=sandbox.interpreter)
    return _run_cold(command, paths.workdir, {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}, run)


def _run_cold(command: list[str], cwd: Path, env: dict[str, str], run: InferenceSettings) -> Finished:
    try:
        done = subprocess.run(command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=run.timeout_s, start_new_session=True)
    except subprocess.TimeoutExpired as error:
        raise _timeout(run) from error
    return Finished(done.returncode, done.stderr)


def _timeout(run: InferenceSettings) -> InferenceTimeout:
    return InferenceTimeout(f"scoring the model on the held-out set took longer than {run.timeout_s:g} s "
                            "and was stopped; a standard fine-tuned classifier needs seconds")


def _script_argv(root: Path, out: Path, run: InferenceSettings) -> list[str]:
    return [str(root / "infer.py"), "--model", str(root / "model"),
            "--texts", str(root / "texts.json"), "--out", str(out), "--max-length", str(run.max_length),
            "--max-tokens", str(run.max_tokens), "--max-batch", str(run.max_batch),
            "--threads", str(run.threads), "--device", run.device]


def uses_gpu(run: InferenceSettings) -> bool:
    """True when the scorer will be offered this host's NVIDIA GPUs (grader/homework/scorer_sandbox.py)."""
    return gpus_offered(run.device)


def _read_only(folder: Path) -> None:
    for dirpath, _, filenames in os.walk(folder):
        os.chmod(dirpath, 0o755)
        for name in filenames:
            os.chmod(os.path.join(dirpath, name), 0o444)


def _status(path: Path) -> dict[str, Any]:
    try:
        if path.stat().st_size > 1 << 20:
            return {"ok": False, "error": "status.json is too large"}
        data = json.loads(path.read_text())
        return data if isinstance(data, dict) else {"ok": False, "error": "status.json is not an object"}
    except (OSError, ValueError):
        return {}


def _logits(path: Path, n: int) -> list[list[float]]:
    """The sandbox's only output: a (N, C) float tensor, checked before any number is believed."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file
    import numpy as np

    try:
        if path.is_symlink() or path.stat().st_size > MAX_LOGITS_BYTES:
            raise InferenceFailed("the scorer's output was not a plain file of the expected size")
        logits = load_file(str(path))["logits"]
    except (OSError, KeyError, SafetensorError) as error:
        raise InferenceFailed(f"the scorer's output could not be read ({error})") from error
    if logits.ndim != 2 or logits.shape[0] != n:
        raise InferenceFailed(f"the model produced logits of shape {tuple(logits.shape)} for {n} texts")
    if not np.isfinite(logits).all():
        raise InferenceFailed("the model produced NaN or infinite logits on the held-out texts")
    return logits.astype(np.float64).tolist()


def compute_metrics(predictions: list[int], heldout: HeldOut,
                    metrics: tuple[str, ...] = DEFAULT_METRICS) -> dict[str, Any]:
    """The named metrics (grader/homework/metrics/ registry) through `evaluate`, from our local
    metric modules: each adds its own key(s), e.g. macro_f1 also per_class_f1."""
    evaluate = _evaluate()
    k = len(heldout.label_names)
    refs = list(heldout.labels)
    result: dict[str, Any] = {}
    for name in metrics:
        metric = REGISTRY[name]
        extra = {"num_classes": k} if metric.per_class else {}
        result |= evaluate.load(str(metric.path), keep_in_memory=True).compute(
            predictions=predictions, references=refs, **extra)
    return result


def _evaluate():  # type: ignore[no-untyped-def]
    """`evaluate`, imported late (it costs seconds) with its caches in a private temp folder."""
    if "evaluate" not in sys.modules:
        home = tempfile.mkdtemp(prefix="grade-hf-")
        os.environ.setdefault("HF_HOME", home)
        os.environ.setdefault("HF_MODULES_CACHE", str(Path(home) / "modules"))
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["HF_EVALUATE_OFFLINE"] = "1"
        os.environ["HF_DATASETS_OFFLINE"] = "1"
    import evaluate

    evaluate.logging.disable_progress_bar()
    return evaluate
