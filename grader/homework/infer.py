"""Held-out inference, run inside the sandbox as a plain script (the grader package is not there).

The grader copies this file next to the inputs and starts it through the sandbox. It reads
the model folder (read-only, already validated) and a JSON list of texts (no labels: they
never enter the sandbox), and writes `logits.safetensors` (float32, one row per text, input
order) plus `status.json`. Fast on purpose: texts sorted by token length so each batch pads
only to its own longest text (dynamic padding), batches bounded by a token budget,
`torch.inference_mode`, a fixed thread count, CUDA with bf16 when present, CPU otherwise,
the same code path on both.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def pick_device(requested: str):  # type: ignore[no-untyped-def]
    import torch

    if requested in ("auto", "cuda") and torch.cuda.is_available():
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.device("cuda"), dtype
    return torch.device("cpu"), torch.float32


def batches(lengths: list[int], max_tokens: int, max_batch: int) -> list[list[int]]:
    """Indices grouped shortest first; a batch's padded size (rows x longest) stays under max_tokens."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    groups: list[list[int]] = []
    current: list[int] = []
    for index in order:
        longest = lengths[index]  # sorted: the newest is the longest
        if current and ((len(current) + 1) * longest > max_tokens or len(current) >= max_batch):
            groups.append(current)
            current = []
        current.append(index)
    if current:
        groups.append(current)
    return groups


def predict(model_dir: Path, texts: list[str], *, max_length: int, max_tokens: int, max_batch: int,
            threads: int, device_name: str) -> tuple["object", dict[str, object]]:
    """(logits as a float32 tensor (N, C), facts for the report)."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.set_num_threads(threads)
    device, dtype = pick_device(device_name)
    started = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True, trust_remote_code=False)
    model = AutoModelForSequenceClassification.from_pretrained(
        model_dir, local_files_only=True, trust_remote_code=False, use_safetensors=True, dtype=dtype)
    model.eval().to(device)
    loaded = time.perf_counter()
    positions = getattr(model.config, "max_position_embeddings", None) or max_length
    max_length = min(max_length, positions)  # a model with fewer positions would index past its table
    encoded = tokenizer(texts, truncation=True, max_length=max_length, padding=False)
    keys = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in encoded]
    rows = model.get_input_embeddings().weight.shape[0]
    top = max((max(ids) for ids in encoded["input_ids"] if ids), default=0)
    if top >= rows:
        raise ValueError(f"the tokenizer produced token id {top}, but the model's embedding has {rows} rows: "
                         "the tokenizer does not belong to this model")
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    lengths = [len(ids) for ids in encoded["input_ids"]]
    logits = torch.empty(len(texts), model.config.num_labels, dtype=torch.float32)
    with torch.inference_mode():
        for group in batches(lengths, max_tokens, max_batch):
            width = max(lengths[i] for i in group)
            inputs = {}
            for key in keys:
                fill = pad_id if key == "input_ids" else 0
                padded = [encoded[key][i] + [fill] * (width - len(encoded[key][i])) for i in group]
                inputs[key] = torch.tensor(padded, dtype=torch.long).to(device, non_blocking=True)  # (B, T)
            out = model(**inputs).logits  # (B, C)
            logits[torch.tensor(group)] = out.float().cpu()
    facts = {"device": str(device), "dtype": str(dtype).replace("torch.", ""), "threads": threads,
             "load_s": round(loaded - started, 3), "infer_s": round(time.perf_counter() - loaded, 3),
             "n": len(texts), "max_length": max_length}
    return logits, facts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--texts", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--max-tokens", type=int, default=8192)
    parser.add_argument("--max-batch", type=int, default=256)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        from safetensors.torch import save_file

        texts = json.loads(args.texts.read_text(encoding="utf-8"))
        logits, facts = predict(args.model, texts, max_length=args.max_length, max_tokens=args.max_tokens,
                                max_batch=args.max_batch, threads=args.threads, device_name=args.device)
        save_file({"logits": logits.contiguous()}, str(args.out / "logits.safetensors"))
        (args.out / "status.json").write_text(json.dumps({"ok": True, **facts}))
        return 0
    except Exception as error:  # noqa: BLE001 - reported to the grader as data, not as a traceback
        message = f"{type(error).__name__}: {error}"[:2000]
        (args.out / "status.json").write_text(json.dumps({"ok": False, "error": message}))
        print(message, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
