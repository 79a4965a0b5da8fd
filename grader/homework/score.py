"""Score a validated model on the held-out set: inference in the sandbox, metrics outside it.

Only the texts cross into the sandbox (a JSON list); only logits come back (safetensors,
shape-checked). Labels stay in this process. Inside the sandbox: the model folder bound
read-only at /homework/model, the texts read-only at /homework/texts.json, the held-out data
masked where the sandbox would otherwise see it (a dataset inside an installed package), GPUs
bound when the host has them, and a wall-clock limit enforced from here.
"""

from __future__ import annotations

import json
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
from grader.sandbox.bwrap import Limits, Sandbox, SandboxPaths

INFER_SCRIPT = Path(__file__).with_name("infer.py")
SANDBOX_ROOT = Path("/homework")
MAX_LOGITS_BYTES = 64 * 1024 * 1024


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
        )


@dataclass(frozen=True)
class Inference:
    logits: list[list[float]]  # (N, C), held-out order
    facts: dict[str, Any]  # device, dtype, load/infer seconds
    seconds: float


def run_inference(model_files: Path, texts: tuple[str, ...], run: InferenceSettings, *,
                  sandbox: Sandbox | None, limits: Limits, script: Path = INFER_SCRIPT,
                  hide: tuple[Path, ...] = ()) -> Inference:
    """Start infer.py (sandboxed unless sandbox is None) on the texts; return the checked logits.
    `hide`: the held-out data's files, masked should the sandbox see them.
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
        if sandbox is not None:
            gpu = uses_gpu(run)
            if gpu:  # CUDA reserves address space far beyond any RLIMIT_AS; the cgroup still caps memory
                sandbox = Sandbox(sandbox.slot, replace(sandbox.limits, address_space_bytes=None))
            sandbox.prepare(paths)
            root = SANDBOX_ROOT
            argv = _argv(root, paths.workdir / "out", run)
            env = sandbox.environment(paths.workdir) | _quiet_env(run.threads) | (_gpu_env() if gpu else {})
            command = with_extra_binds(sandbox.wrap(argv, paths, env), inputs, root, gpu=gpu, hide=hide)
            env_outer = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        else:
            command = _argv(inputs, out, run)
            env_outer = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(paths.workdir),
                         "HF_HUB_OFFLINE": "1", "HF_HOME": str(paths.workdir / ".hf"), **_quiet_env(run.threads)}
        started = time.monotonic()
        try:
            done = subprocess.run(command, cwd=paths.workdir, env=env_outer, stdin=subprocess.DEVNULL,
                                  capture_output=True, timeout=run.timeout_s, start_new_session=True)
        except subprocess.TimeoutExpired as error:
            raise InferenceTimeout(f"scoring the model on the held-out set took longer than {run.timeout_s:g} s "
                                   "and was stopped; a standard fine-tuned classifier needs seconds") from error
        finally:
            if sandbox is not None:
                sandbox.cleanup()
        seconds = time.monotonic() - started
        status = _status(out / "status.json")
        if not status.get("ok"):
            why = status.get("error") or done.stderr.decode(errors="replace").strip()[-500:] or f"exit {done.returncode}"
            if sandbox is not None and sandbox.memory_limit_hit():
                why = f"it ran out of memory ({limits.memory_bytes >> 20} MiB)"
            raise InferenceFailed(f"the model could not be run on the held-out set: {why}")
        return Inference(logits=_logits(out / "logits.safetensors", len(texts)), facts=status, seconds=seconds)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _argv(root: Path, out: Path, run: InferenceSettings) -> list[str]:
    return [sys.executable, "-I", str(root / "infer.py"), "--model", str(root / "model"),
            "--texts", str(root / "texts.json"), "--out", str(out), "--max-length", str(run.max_length),
            "--max-tokens", str(run.max_tokens), "--max-batch", str(run.max_batch),
            "--threads", str(run.threads), "--device", run.device]


def _quiet_env(threads: int) -> dict[str, str]:
    return {"HF_HUB_DISABLE_PROGRESS_BARS": "1", "TRANSFORMERS_VERBOSITY": "error", "TOKENIZERS_PARALLELISM": "false",
            "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads), "TRANSFORMERS_OFFLINE": "1",
            "HF_HUB_OFFLINE": "1"}


def uses_gpu(run: InferenceSettings) -> bool:
    """True when the scorer will be offered this host's NVIDIA GPUs (device nodes /dev/nvidia0...),
    unless this process was given none (CUDA_VISIBLE_DEVICES empty or -1, e.g. a CPU-only Dask worker)."""
    if run.device == "cpu" or os.environ.get("CUDA_VISIBLE_DEVICES", "0").strip() in ("", "-1"):
        return False
    return any(node.name[len("nvidia"):].isdigit() for node in Path("/dev").glob("nvidia*"))


def _gpu_env() -> dict[str, str]:
    """What CUDA needs from the host's environment: where the driver library is, which GPUs are ours
    (a Dask GPU worker or a scheduler may narrow CUDA_VISIBLE_DEVICES)."""
    return {key: os.environ[key] for key in ("LD_LIBRARY_PATH", "CUDA_VISIBLE_DEVICES") if key in os.environ}


def _library_dirs() -> list[str]:
    """LD_LIBRARY_PATH folders outside /usr (e.g. a driver mounted at /opt/...), bound read-only."""
    dirs = [d for d in os.environ.get("LD_LIBRARY_PATH", "").split(":") if d and os.path.isdir(d)]
    return [d for d in dict.fromkeys(os.path.realpath(d) for d in dirs) if not d.startswith("/usr/")]


def with_extra_binds(command: list[str], inputs: Path, root: Path, *, gpu: bool = False,
                     hide: tuple[Path, ...] = ()) -> list[str]:
    """Add to a Sandbox.wrap command: the inputs read-only at `root`, `hide` masked, GPUs bound."""
    extra = ["--perms", "0755", "--dir", str(root), "--ro-bind", str(inputs), str(root)]
    for path in visible_in_sandbox(hide):  # e.g. a held-out dataset inside an installed package
        extra += ["--tmpfs", str(path)] if path.is_dir() else ["--ro-bind", "/dev/null", str(path)]
    if gpu:
        for device in sorted(Path("/dev").glob("nvidia*")):
            extra += ["--dev-bind", str(device), str(device)]
        for folder in _library_dirs():
            extra += ["--ro-bind", folder, folder]
    at = command.index("--chdir")  # the wrapper's own options end here; the command line follows
    return command[:at] + extra + command[at:]


def visible_in_sandbox(paths: tuple[Path, ...]) -> list[Path]:
    """Those of `paths` that exist under a folder every sandbox binds (/usr, the Python
    installation): the rest are out of its sight already."""
    roots = [Path("/usr"), Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()]
    found = []
    for path in paths:
        real = path.resolve()
        if real.exists() and any(real == r or r in real.parents for r in roots):
            found.append(real)
    return found


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
