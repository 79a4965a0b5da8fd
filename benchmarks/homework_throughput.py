"""Held-out scoring throughput (reviews/s): `grade`'s scorer vs a plain transformers pipeline loop.

Run: .venv/bin/python benchmarks/homework_throughput.py [--model DIR] [--n 1000] [--threads 2] [--device auto]

Same model, same held-out texts, same thread count, measured in this run:
- pipeline loop: `pipeline("text-classification")` called once per review (the usual loop);
- pipeline batched: the same pipeline given the list with batch_size=64 (padding to each batch's longest);
- grade, inference: grader/homework/infer.py's predict (length-sorted batches under a token budget,
  dynamic padding, inference_mode; CUDA+bf16 when present), model load excluded like the others;
- grade, sandboxed end to end: run_inference as `grade` runs it (sandbox start, imports, model load,
  inference, checked logits back), when bubblewrap is available.
Model load is timed apart for everyone. The default model is the demo's fine-tuned one
(scripts/make_demo_models.py builds it).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=REPO / "submissions" / "lea_finetuned" / "model")
    parser.add_argument("--n", type=int, default=1000, help="held-out reviews to score (0: all)")
    parser.add_argument("--threads", type=int, default=min(4, os.cpu_count() or 1))
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--no-sandbox", action="store_true", help="skip the sandboxed end-to-end run")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    import torch
    from transformers import pipeline

    from grader.homework.data import load_heldout
    from grader.homework.infer import pick_device, predict

    torch.set_num_threads(args.threads)
    import yaml

    settings = yaml.safe_load((REPO / "rubrics" / "homework.yaml").read_text())["settings"]
    heldout = load_heldout(settings, REPO)  # the course's held-out set (reference/homework/make_data.py)
    texts = list(heldout.texts[: args.n or None])
    device, dtype = pick_device(args.device)
    print(f"model {args.model}; {len(texts)} held-out reviews; device {device} ({dtype}); {args.threads} threads")
    rows: dict[str, dict[str, float]] = {}

    started = time.perf_counter()
    pipe = pipeline("text-classification", model=str(args.model), device=device, dtype=dtype)  # same dtype as ours
    load = time.perf_counter() - started
    started = time.perf_counter()
    loop = [pipe(text, truncation=True, max_length=128)[0]["label"] for text in texts]
    rows["pipeline loop"] = {"load_s": load, "seconds": time.perf_counter() - started}
    started = time.perf_counter()
    batched = [r["label"] for r in pipe(texts, batch_size=64, truncation=True, max_length=128)]
    rows["pipeline batched (64)"] = {"load_s": 0.0, "seconds": time.perf_counter() - started}
    del pipe

    logits, facts = predict(args.model, texts, max_length=128, max_tokens=8192, max_batch=256,
                            threads=args.threads, device_name=args.device)
    rows["grade, inference"] = {"load_s": float(facts["load_s"]), "seconds": float(facts["infer_s"])}
    names = pipeline_names(args.model)
    ours = [names[i] for i in logits.argmax(dim=-1).tolist()]
    agree = sum(a == b for a, b in zip(loop, ours)) / len(texts)

    if not args.no_sandbox and os.geteuid() == 0:
        from grader.homework.score import InferenceSettings, run_inference
        from grader.homework.validate import validate_model
        from grader.sandbox.bwrap import Limits, Sandbox, bwrap_path

        if bwrap_path():
            import shutil
            import tempfile

            check = validate_model(args.model, settings, heldout.label_names)
            with tempfile.TemporaryDirectory() as tmp:
                for name in check.files:
                    shutil.copyfile(args.model / name, Path(tmp) / name)
                limits = Limits(torch_threads=args.threads)
                started = time.perf_counter()
                done = run_inference(Path(tmp), tuple(texts), InferenceSettings(threads=args.threads, device=args.device,
                                                                                timeout_s=1800),
                                     sandbox=Sandbox(900, limits), limits=limits)
                total = time.perf_counter() - started
                rows["grade, sandboxed end to end"] = {"load_s": 0.0, "seconds": total}
                load, infer = float(done.facts.get("load_s", 0)), float(done.facts.get("infer_s", 0))
                print(f"sandboxed scorer ran on {done.facts.get('device')} ({done.facts.get('dtype')}): "
                      f"sandbox start and imports {total - load - infer:.2f} s, model load {load:.2f} s, "
                      f"inference {infer:.2f} s")

    base = len(texts) / rows["pipeline loop"]["seconds"]
    print(f"\n{'':32} {'reviews/s':>10} {'vs loop':>8} {'seconds':>8} {'load s':>7}")
    for name, row in rows.items():
        rate = len(texts) / row["seconds"]
        row |= {"reviews_per_s": rate, "speedup_vs_loop": rate / base}
        print(f"{name:32} {rate:10.1f} {rate / base:7.2f}x {row['seconds']:8.2f} {row['load_s']:7.2f}")
    print(f"\npredictions agreeing with the pipeline loop: {agree:.4f}; "
          f"batched pipeline vs loop: {sum(a == b for a, b in zip(loop, batched)) / len(texts):.4f}")
    if args.json:
        args.json.write_text(json.dumps({"n": len(texts), "device": str(device), "dtype": str(dtype),
                                         "threads": args.threads, "agreement": agree, "rows": rows}, indent=2))
    return 0


def pipeline_names(model: Path) -> list[str]:
    config = json.loads((model / "config.json").read_text())
    mapping = config.get("id2label") or {"0": "LABEL_0", "1": "LABEL_1"}
    return [mapping[str(i)] for i in range(len(mapping))]


if __name__ == "__main__":
    sys.exit(main())
