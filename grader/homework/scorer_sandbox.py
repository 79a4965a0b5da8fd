"""What the homework scorer's sandbox gets beyond a kernel's: its inputs, masks, GPUs, environment.

One list of mounts (`extra_mounts`), in the order bwrap applies them, serves both starts: the
cold one turns it into bwrap options (`with_extra_binds`), the warm one sends it to the template's
child, which makes the same mounts itself (grader/kernel/template_sandbox.py's extra_mount).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from grader.sandbox.interpreter import Interpreter

Mount = tuple[str, str, str]  # (bwrap's option without "--": dir, tmpfs, ro-bind, dev-bind; source or ""; target)


def gpus_offered(device: str) -> bool:
    """True when the scorer will be offered this host's NVIDIA GPUs (device nodes /dev/nvidia0...),
    unless this process was given none (CUDA_VISIBLE_DEVICES empty or -1, e.g. a CPU-only Dask worker)."""
    if device == "cpu" or os.environ.get("CUDA_VISIBLE_DEVICES", "0").strip() in ("", "-1"):
        return False
    return any(node.name[len("nvidia"):].isdigit() for node in Path("/dev").glob("nvidia*"))


def gpu_env() -> dict[str, str]:
    """What CUDA needs from the host's environment: where the driver library is, which GPUs are ours
    (a Dask GPU worker or a scheduler may narrow CUDA_VISIBLE_DEVICES)."""
    return {key: os.environ[key] for key in ("LD_LIBRARY_PATH", "CUDA_VISIBLE_DEVICES") if key in os.environ}


def quiet_env(threads: int) -> dict[str, str]:
    """The scorer's environment besides the sandbox's: offline, no progress bars, `threads` threads."""
    return {"HF_HUB_DISABLE_PROGRESS_BARS": "1", "TRANSFORMERS_VERBOSITY": "error", "TOKENIZERS_PARALLELISM": "false",
            "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads), "TRANSFORMERS_OFFLINE": "1",
            "HF_HUB_OFFLINE": "1"}


def library_dirs() -> list[str]:
    """LD_LIBRARY_PATH folders outside /usr (e.g. a driver mounted at /opt/...), bound read-only."""
    dirs = [d for d in os.environ.get("LD_LIBRARY_PATH", "").split(":") if d and os.path.isdir(d)]
    return [d for d in dict.fromkeys(os.path.realpath(d) for d in dirs) if not d.startswith("/usr/")]


def extra_mounts(inputs: Path, root: Path, *, gpu: bool = False, hide: tuple[Path, ...] = (),
                 interpreter: Interpreter | None = None) -> list[Mount]:
    """The inputs read-only at `root`, `hide` masked where the sandbox would see it, GPUs bound."""
    mounts: list[Mount] = [("dir", "", str(root)), ("ro-bind", str(inputs), str(root))]
    for path in visible_in_sandbox(hide, interpreter):  # e.g. a held-out dataset inside an installed package
        mounts.append(("tmpfs", "", str(path)) if path.is_dir() else ("ro-bind", "/dev/null", str(path)))
    if gpu:
        for device in sorted(Path("/dev").glob("nvidia*")):
            mounts.append(("dev-bind", str(device), str(device)))
        for folder in library_dirs():
            mounts.append(("ro-bind", folder, folder))
    return mounts


def with_extra_binds(command: list[str], inputs: Path, root: Path, *, gpu: bool = False,
                     hide: tuple[Path, ...] = (), interpreter: Interpreter | None = None) -> list[str]:
    """Add to a Sandbox.wrap command: the inputs read-only at `root`, `hide` masked, GPUs bound."""
    extra: list[str] = []
    for kind, source, target in extra_mounts(inputs, root, gpu=gpu, hide=hide, interpreter=interpreter):
        if kind == "dir":
            extra += ["--perms", "0755", "--dir", target]
        elif kind == "tmpfs":
            extra += ["--tmpfs", target]
        else:
            extra += [f"--{kind}", source, target]
    at = command.index("--chdir")  # the wrapper's own options end here; the command line follows
    return command[:at] + extra + command[at:]


def visible_in_sandbox(paths: tuple[Path, ...], interpreter: Interpreter | None = None) -> list[Path]:
    """Those of `paths` that exist under a folder every sandbox binds (/usr, the installation of the
    Python it runs: `interpreter`, else this process's): the rest are out of its sight already."""
    prefixes = interpreter.prefixes if interpreter is not None else (Path(sys.prefix), Path(sys.base_prefix))
    roots = [Path("/usr"), *(p.resolve() for p in prefixes)]
    found = []
    for path in paths:
        real = path.resolve()
        if real.exists() and any(real == r or r in real.parents for r in roots):
            found.append(real)
    return found
