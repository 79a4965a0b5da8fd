"""The homework's sandboxed scoring, cold (bwrap + `python -I infer.py`) vs warm (forked from the
worker's scorer template, grader/homework/warm_scorer.py), in the same run.

Run: .venv/bin/python benchmarks/homework_start.py [--n 100] [--repeat 3] [--class-size 20] [--threads 1]
     [--device auto] [--json out.json]

Both run `run_inference` as `grade` does (the students' environment, the real sandbox, the
demo's two models: scripts/make_demo_models.py builds them). Per model, split:
- start-up: from the call until infer.py has imported torch and transformers (copying the inputs,
  the sandbox, the process start and the imports cold; a fork and the mounts warm), read from a copy
  of infer.py with one added line that notes the time (infer.py itself is part of the homework's
  fingerprint: changing it would re-grade every model);
- model load and inference: infer.py's own figures (load_s, infer_s); cold, the load includes
  what transformers imports on first use (the architecture's modeling code), which warm is ahead;
- the rest: writing and checking the logits, tearing the sandbox down.
The warm template's own start (its imports, once per worker) is shown apart. Then a class of
--class-size models (the two demo models alternately; each is copied into its sandbox, as `grade`
does) scored one after another, cold then warm.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
MODELS = ("lea_finetuned", "max_undertrained")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100, help="held-out reviews per model (0: all)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per model and mode (medians shown)")
    parser.add_argument("--class-size", type=int, default=20, help="models scored one after another (0: skip)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("needs root (the sandbox switches uid)", file=sys.stderr)
        return 2

    import yaml

    from grader.course.config import load_course_config
    from grader.course.environment import kernel_interpreter
    from grader.homework.data import load_heldout
    from grader.homework.score import INFER_SCRIPT, InferenceSettings, run_inference
    from grader.sandbox.bwrap import Limits, Sandbox, claim_slot

    settings = yaml.safe_load((REPO / "rubrics" / "homework.yaml").read_text())["settings"]
    texts = tuple(load_heldout(settings, REPO).texts[: args.n or None])
    python = kernel_interpreter(load_course_config(REPO))
    limits = Limits(torch_threads=args.threads)
    run = InferenceSettings(threads=args.threads, device=args.device, timeout_s=1800)
    slot, _lock = claim_slot(480)  # above the workers' usual slots
    models = [REPO / "submissions" / name / "model" for name in MODELS]
    for model in models:
        if not (model / "model.safetensors").is_file():
            print(f"{model} is missing: run scripts/make_demo_models.py", file=sys.stderr)
            return 2
    print(f"{len(texts)} held-out reviews per model; {args.threads} thread(s); device {args.device}; "
          f"python {python.executable if python else sys.executable}")

    script = timed_copy(INFER_SCRIPT, Path(tempfile.mkdtemp(prefix="grade-bench-")) / "infer.py")

    def score(model: Path, warm: bool) -> dict[str, float]:
        began, wall = time.time(), time.monotonic()
        done = run_inference(model, texts, run, sandbox=Sandbox(slot, limits, python), limits=limits, warm=warm,
                             script=script)
        total = time.monotonic() - wall
        startup = float(done.facts["ready_at"]) - began
        load, infer = float(done.facts["load_s"]), float(done.facts["infer_s"])
        return {"total_s": total, "startup_s": startup, "load_s": load, "infer_s": infer,
                "rest_s": total - startup - load - infer}

    figures: dict[str, object] = {"n": len(texts), "threads": args.threads, "device": args.device}
    started = time.monotonic()
    first_warm = score(models[0], True)  # starts this process's scorer template (its imports), once
    figures["first_warm_s"] = first_warm["total_s"]
    score(models[0], False)  # the cold path's files in the page cache too, so neither is measured cold-cached
    print(f"first warm scoring (the template imports torch and transformers, once per worker): "
          f"{first_warm['total_s']:.2f} s, of which start-up {first_warm['startup_s']:.2f} s")

    rows: dict[str, dict[str, float]] = {}
    for model in models:
        for mode in ("cold", "warm"):
            runs = [score(model, mode == "warm") for _ in range(args.repeat)]
            rows[f"{model.parent.name} {mode}"] = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    print(f"\nper model, median of {args.repeat} (seconds)")
    print(f"{'':24} {'start-up':>9} {'load':>7} {'infer':>7} {'rest':>6} {'total':>7}")
    for name, row in rows.items():
        print(f"{name:24} {row['startup_s']:9.2f} {row['load_s']:7.2f} {row['infer_s']:7.2f} "
              f"{row['rest_s']:6.2f} {row['total_s']:7.2f}")
    figures["per_model"] = rows
    figures["template_start_s"] = first_warm["total_s"] - rows[f"{MODELS[0]} warm"]["total_s"]
    print(f"the template's start (once per worker): about {figures['template_start_s']:.1f} s")

    if args.class_size:
        print(f"\na class of {args.class_size} models, one after another")
        klass: dict[str, float] = {}
        for mode in ("cold", "warm"):
            began = time.monotonic()
            startups = [score(models[i % len(models)], mode == "warm")["startup_s"] for i in range(args.class_size)]
            klass[f"{mode}_s"] = time.monotonic() - began
            klass[f"{mode}_startup_median_s"] = statistics.median(startups)
            print(f"{mode:5} {klass[f'{mode}_s']:7.1f} s ({klass[f'{mode}_s'] / args.class_size:.2f} s per model, "
                  f"start-up median {klass[f'{mode}_startup_median_s']:.2f} s)")
        klass["speedup"] = klass["cold_s"] / klass["warm_s"]
        print(f"warm is {klass['speedup']:.2f}x faster")
        figures["class"] = klass
    figures["benchmark_s"] = time.monotonic() - started
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


def timed_copy(infer: Path, dest: Path) -> Path:
    """infer.py, plus the time (the host's clock) at which it has imported torch and transformers."""
    text = infer.read_text()
    imports = "    from transformers import AutoModelForSequenceClassification, AutoTokenizer\n"
    facts = '"n": len(texts), "max_length": max_length}'
    if text.count(imports) != 1 or text.count(facts) != 1:
        raise SystemExit(f"{infer} changed: update timed_copy() in {__file__}")
    text = text.replace(imports, imports + "    ready_at = time.time()\n")
    dest.write_text(text.replace(facts, facts[:-1] + ', "ready_at": ready_at}'))
    return dest


if __name__ == "__main__":
    sys.exit(main())
