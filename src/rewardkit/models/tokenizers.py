"""Tokenizers by alias ("smollm2", "minilm"), .gguf file, local dir or HF id, for the commands that count
tokens without a model (Table 1). A GGUF's tokenizer is parsed once and cached as an HF directory."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from rewardkit.options import DEFAULT_MODEL
from rewardkit.data.io import atomic_dir
from rewardkit.data.stats import dataset_table
from rewardkit.models.gguf_cache import cache_dir_for

DEFAULT_TOKENIZER = DEFAULT_MODEL
"""Table 1's tokenizer when none is named: the shipped SmolLM2's."""


@lru_cache(maxsize=4)
def load_tokenizer(name: str | None = None):
    """A tokenizer by alias ("smollm2", "minilm"), .gguf file, local dir or HF id; cached per process."""
    from transformers import AutoTokenizer

    from rewardkit.models.loading import expand_alias, hub_errors  # deferred: it imports torch

    target = expand_alias(name or DEFAULT_TOKENIZER)
    if target.endswith(".gguf"):  # the tokenizer alone: no need to dequantize the weights
        return AutoTokenizer.from_pretrained(_gguf_tokenizer_dir(Path(target)))
    with hub_errors(target, "tokenizer"):
        return AutoTokenizer.from_pretrained(target)


def stage_table(stage, quarantine_dir: str | Path | None) -> list[dict]:
    """Table 1 rows for a `data:` stage or `rewardkit data stats` (a DataStage): its tokenizer loaded here,
    so the data layer (rewardkit.data.stats) never imports model code."""
    return dataset_table(stage.stats, load_tokenizer(stage.tokenizer), stage.on_bad_row, quarantine_dir,
                         name=stage.tokenizer or DEFAULT_TOKENIZER)


def _gguf_tokenizer_dir(gguf: Path) -> Path:
    """Parse the tokenizer out of a GGUF once (~5 s), then load the saved copy (~0.1 s)."""
    from transformers import AutoTokenizer

    dest = cache_dir_for(gguf, "tokenizers")
    if (dest / "tokenizer_config.json").is_file():
        return dest
    tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    with atomic_dir(dest, marker="tokenizer_config.json") as tmp:
        tok.save_pretrained(tmp)
    return dest
