"""The paper's Table 1 for any inputs: pairs, average turns, average prompt and response tokens.

    rewardkit data stats SPEC... [--tokenizer NAME] [--on-bad-row skip]

Definitions (paper section 3.1, Table 1): "Avg. # Turns" counts the messages of the whole conversation
including the response (2 for a single-turn pair); prompt tokens are the tokens of all prompt messages'
contents (no chat template, no special tokens); response tokens are the mean of the chosen and the
rejected response's tokens. The Total row weights every dataset by its pairs, as the paper's does.
The tokenizer is named in the table title; the default is the shipped SmolLM2 tokenizer, read from the
GGUF file alone (no model weights) and cached as an HF tokenizer directory.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable
from itertools import islice
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from rewardkit.data.pairs import PreferencePair
from rewardkit.options import DEFAULT_ON_BAD_ROW, OnBadRow, ReadOptions
from rewardkit.data.sources import iter_pairs
from rewardkit.data.sources.base import ReadContext, fresh_quarantine, parse_spec

BATCH = 512
TOKEN_SAMPLE = 2000
"""Table 1's averages come from a seeded sample of at most this many pairs per source (counts exact):
the curated mixture's report and a model card's training data."""


class DataStage(ReadOptions):
    """The pipeline's `data:` section and `rewardkit data stats`' options."""

    stats: list[str] = []
    """READER:PATH_OR_HUB_ID spec strings whose Table 1 (pairs, turns, prompt/response tokens) is printed."""
    tokenizer: str | None = None
    """Tokenizer for the token counts (alias, .gguf file, dir or HF id); default: the shipped SmolLM2's
    (rewardkit.models.tokenizers.load_tokenizer)."""


def tokenizer_name(tokenizer) -> str:
    return Path(getattr(tokenizer, "name_or_path", "") or type(tokenizer).__name__).name


def _n_tokens(tokenizer, texts: list[str]) -> list[int]:
    return [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]


def pair_stats(pairs: Iterable[PreferencePair], tok) -> dict[str, Any]:
    """Table 1 columns for in-memory or streamed pairs (one pass, batched tokenisation). `tok` is a
    loaded tokenizer (rewardkit.models.tokenizers.load_tokenizer): the data layer loads no model code."""
    n = turns = prompt_tokens = response_tokens = 0
    it = iter(pairs)
    while batch := list(islice(it, BATCH)):
        texts = [m["content"] for p in batch for m in p.prompt]
        counts = _n_tokens(tok, texts + [p.chosen for p in batch] + [p.rejected for p in batch])
        prompt_tokens += sum(counts[: len(texts)])
        response_tokens += sum(counts[len(texts):])
        turns += sum(len(p.prompt) + 1 for p in batch)
        n += len(batch)
    return {
        "pairs": n,
        "avg_turns": turns / n if n else 0.0,
        "avg_prompt_tokens": prompt_tokens / n if n else 0.0,
        "avg_response_tokens": response_tokens / (2 * n) if n else 0.0,  # mean of chosen and rejected
    }


def source_table(pairs: list[PreferencePair], tok, sample: int | None = None, seed: int = 0) -> list[dict[str, Any]]:
    """Table 1 per source of in-memory pairs (`pair.source`), then the pair-weighted total. With `sample`,
    the averages come from a seeded sample of at most that many pairs per source; counts stay exact."""
    by_source: dict[str, list[PreferencePair]] = defaultdict(list)
    for p in pairs:
        by_source[p.source].append(p)
    rows = []
    for source, ps in by_source.items():
        measured = random.Random(seed).sample(ps, sample) if sample is not None and len(ps) > sample else ps
        rows.append({"dataset": source, **pair_stats(measured, tok), "pairs": len(ps)})
    rows.append(total_row(rows))
    return rows


def total_row(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Pair-weighted means over datasets (the paper's Total row)."""
    n = sum(r["pairs"] for r in rows)
    out = {"dataset": "Total", "pairs": n}
    for k in ("avg_turns", "avg_prompt_tokens", "avg_response_tokens"):
        out[k] = sum(r[k] * r["pairs"] for r in rows) / n if n else 0.0
    return out


def dataset_table(specs: Iterable[str], tok, on_bad_row: OnBadRow = DEFAULT_ON_BAD_ROW,
                  quarantine_dir: str | Path | None = None,
                  name: str | None = None) -> list[dict[str, Any]]:
    """One row per spec (with its ReadReport under "report"), then the Total row. Every row carries the
    tokenizer's `name` (default: from the loaded tokenizer) under "tokenizer"."""
    name = name or tokenizer_name(tok)
    rows = []
    for i, spec in enumerate(specs):
        quarantine = Path(quarantine_dir) / f"{i:02d}-{parse_spec(spec).reader}.quarantine.jsonl" if quarantine_dir else None
        ctx = ReadContext(spec, on_bad_row, fresh_quarantine(quarantine))  # type: ignore[arg-type]
        stats = pair_stats(iter_pairs(spec, ctx=ctx), tok)
        rows.append({"dataset": short_label(spec), **stats, "tokenizer": name, "report": ctx.report.as_dict()})
    return [*rows, {**total_row(rows), "tokenizer": name}]


def short_label(spec: str) -> str:
    """'hh_rlhf:data/hh-rlhf-test/harmless-base' -> 'hh_rlhf: harmless-base' (the full spec
    is in the read report printed under the table)."""
    s = parse_spec(spec)
    where = Path(s.location).name.split(".")[0] if s.location else "(hub)"
    opts = "&".join(f"{k}={v}" for k, v in s.options.items())
    return f"{s.reader}: {where}" + (f"?{opts}" if opts else "")


def print_table(rows: list[dict[str, Any]], console=None) -> None:
    """Table 1 with rich, then each dataset's read report (rows read, produced, skipped, dropped)."""
    console = console or Console()
    name = rows[0].get("tokenizer", "?") if rows else "?"
    table = Table(title=f"Table 1: preference data statistics (tokens: {name} tokenizer)")
    table.add_column("Dataset", overflow="fold", ratio=1)
    for col in ("# Pairs", "Avg. # Turns", "Avg. Prompt Tokens", "Avg. Response Tokens"):
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(str(r["dataset"]), f"{r['pairs']:,}", f"{r['avg_turns']:.1f}",
                      f"{r['avg_prompt_tokens']:.1f}", f"{r['avg_response_tokens']:.1f}",
                      end_section=r is rows[-2] if len(rows) > 1 else False)
    console.print(table)
    for r in rows:
        if "report" in r:
            rep = r["report"]
            line = f"{rep['spec']}: {rep['rows_read']:,} rows read, {rep['pairs']:,} pairs"
            if rep["skipped"]:
                line += "; skipped " + ", ".join(f"{v} {k}" for k, v in rep["skipped"].items())
            if rep["dropped"]:
                line += "; dropped by rule " + ", ".join(f"{v} {k}" for k, v in rep["dropped"].items())
            console.print(line, highlight=False, markup=False)
