"""Dequantize a GGUF checkpoint once and keep an HF copy, so later loads take 0.2 s instead of ~12 s.

The copy is the *causal LM* (backbone + tied LM head), not a sequence classifier: a cached score head
would be loaded back as trained weights, and `load_reward_model(seed=...)` could no longer give a fresh,
seed-determined head. AutoModelForSequenceClassification loads the backbone from this copy and
initialises `score` itself.

Cache layout: ``$RK_CACHE/gguf/<file stem>-<size>-<mtime_ns>/`` (default ``~/.cache/rewardkit``). The key
changes whenever the GGUF file is replaced. The copy is written into a temporary sibling directory and
renamed into place, so a load killed half way never leaves a directory that looks complete.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from rewardkit import quiet
from rewardkit.data.io import atomic_dir


def cache_root() -> Path:
    return Path(os.environ.get("RK_CACHE") or Path.home() / ".cache" / "rewardkit")


def cache_dir_for(gguf_path: Path, kind: str = "gguf") -> Path:
    """$RK_CACHE/<kind>/<stem>-<size>-<mtime_ns>: a new key whenever the file is replaced."""
    st = gguf_path.stat()
    return cache_root() / kind / f"{gguf_path.stem}-{st.st_size}-{st.st_mtime_ns}"


def hf_copy_of_gguf(gguf_path: str | Path) -> Path:
    """Return a local HF model directory equivalent to `gguf_path`, creating it on first use."""
    gguf_path = Path(gguf_path).resolve()
    dest = cache_dir_for(gguf_path)
    if (dest / "config.json").is_file():
        return dest
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    started = time.perf_counter()
    kw = {"gguf_file": gguf_path.name}
    with quiet.libraries():  # the per-tensor conversion bar, the weight-loading and shard-writing bars
        # GgufConfig(dequantize=True): without it the model is dequantized but still flagged as quantized,
        # and save_pretrained refuses (docs/machine-notes.md, "The shipped models").
        model = AutoModelForCausalLM.from_pretrained(
            gguf_path.parent, **kw, quantization_config=GgufConfig(dequantize=True), dtype="float32"
        )
        tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, **kw)
        with atomic_dir(dest, marker="config.json") as tmp:
            model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
    quiet.note(f"dequantized GGUF {gguf_path.name} once ({time.perf_counter() - started:.1f} s), cached at {dest}")
    return dest
