"""`rewardkit decontaminate --data SPEC --benchmark SPEC --out DIR [--n 7] [--fields first_user]`.

The I/O edge of decontamination (issue 6): read benchmark prompts and training pairs from spec strings,
stream the pairs through the index, and write, each atomically,
  DIR/clean.jsonl     the pairs kept (rewardkit's pair format; read back with ``pairs:DIR/clean.jsonl``)
  DIR/removed.jsonl   one line per removed pair: pair id, source, matched n-grams, benchmark ids, subsets
  DIR/table4.json     the report's Table 4 per source and in total, plus matches per benchmark subset.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from pydantic import Field
from rich.console import Console
from rich.table import Table

from rewardkit.decontamination.filter import FIELDS, Decontaminate, Fields, Table4
from rewardkit.decontamination.index import DEFAULT_N, NgramIndex, build_index
from rewardkit.data.io import atomic_path, write_json_atomic
from rewardkit.errors import UserError, check_output_dir
from rewardkit.recipe import StrictModel
from rewardkit.data.sources import get_reader, iter_pairs
from rewardkit.data.sources.base import OnBadRow, ReadContext, RefPrompt, fresh_quarantine, parse_spec

DEFAULT_BENCHMARK = "rewardbench:"  # allenai/reward-bench, split filtered, from the hub


class DecontaminateStage(StrictModel):
    """The pipeline's `decontaminate:` section."""

    data: list[str] = []
    """Pair specs to decontaminate when the recipe has no curate stage (else its curated pairs are used)."""
    benchmark: list[str] = [DEFAULT_BENCHMARK]
    """Benchmark specs whose prompts are the references: RewardBench by default, any pair or prompt dataset."""
    n: int = Field(DEFAULT_N, ge=1)
    """Word n-gram length; 7 is the RewardBench maintainers' rule (ngram_range (7, 13))."""
    fields: Literal["first_user", "all_user", "all"] = "first_user"
    """Which texts of a pair are checked: first user turn, all user turns, or everything incl. responses."""
    on_bad_row: Literal["error", "skip"] = "error"
    """Bad rows in the inputs: stop naming file, line and field, or skip and count them."""


def load_references(specs: Iterable[str], on_bad_row: OnBadRow = "error"
                    ) -> tuple[dict[str, list[RefPrompt]], list[dict[str, Any]]]:
    """({benchmark name: prompts}, read reports). A reader with `read_prompts` (XSTest) gives its
    prompts; any pair dataset gives each pair's first user turn (RewardBench's `prompt` column, the text
    the maintainers' script vectorizes), subset = meta["subset"] or the source."""
    groups: dict[str, list[RefPrompt]] = {}
    reports = []
    for text in specs:
        spec = parse_spec(text)
        reader = get_reader(spec.reader)
        ctx = ReadContext(str(spec), on_bad_row)
        if reader.read_prompts is not None:
            refs = list(reader.read_prompts(spec, ctx))
        else:
            refs = [RefPrompt(id=p.source_id or p.id, subset=str(p.meta.get("subset") or p.source),
                              text=p.first_user_turn) for p in iter_pairs(spec, ctx=ctx)]
        if not refs:  # an empty reference set would pass every pair as clean (issue 15)
            raise UserError(f"benchmark {text}: 0 prompts read ({ctx.report.summary()}); a reference set must "
                            "have prompts, else every pair passes as clean")
        name, k = spec.reader, 2
        while name in groups:  # two specs of one reader stay distinguishable in benchmark ids
            name, k = f"{spec.reader}#{k}", k + 1
        groups[name] = refs
        reports.append({**ctx.report.as_dict(), "benchmark": name, "prompts": len(refs)})
    return groups, reports


def index_from_specs(specs: Iterable[str], n: int = DEFAULT_N, on_bad_row: OnBadRow = "error") -> NgramIndex:
    return usable_index(load_references(specs, on_bad_row)[0], n)


def usable_index(groups: dict[str, list[RefPrompt]], n: int) -> NgramIndex:
    """build_index, refusing an index no pair could ever match (every prompt shorter than n words)."""
    index = build_index(groups, n)
    if index.n_with_ngrams == 0:
        total = sum(len(refs) for refs in groups.values())
        raise UserError(f"benchmark {', '.join(groups)}: none of its {total} prompts has {n} words, so no "
                        f"{n}-gram can match and every pair would pass as clean; lower --n or check the data")
    return index


def filter_from_specs(benchmark: list[str], n: int = DEFAULT_N, fields: Fields = "first_user",
                      on_bad_row: OnBadRow = "error") -> Decontaminate:
    """The Decontaminate filter against benchmark spec strings (e.g. ["rewardbench:", "xstest:DIR"])."""
    return Decontaminate(index_from_specs(benchmark, n, on_bad_row), fields)


def decontaminate(data: list[str], benchmark: list[str], out_dir: str | Path, *, n: int = DEFAULT_N,
                  fields: Fields = "first_user", on_bad_row: OnBadRow = "error",
                  console: Console | None = None) -> dict[str, Any]:
    """Decontaminate every pair of `data` against `benchmark`; returns the paths and Table 4."""
    if not data:
        raise ValueError("decontaminate: no --data specs given")
    if not benchmark:
        raise ValueError("decontaminate: no --benchmark specs given")
    if fields not in FIELDS:  # before any (possibly slow) read
        raise ValueError(f"decontaminate: fields must be one of {FIELDS}, got {fields!r}")
    out = check_output_dir(out_dir)
    t0 = time.perf_counter()
    groups, bench_reports = load_references(benchmark, on_bad_row)
    index = usable_index(groups, n)
    decon = Decontaminate(index, fields)
    table = Table4(index)
    data_reports = []
    quarantine = fresh_quarantine(out / "quarantine.jsonl")  # skipped input rows (on_bad_row="skip")
    clean_path, removed_path = out / "clean.jsonl", out / "removed.jsonl"
    with atomic_path(clean_path) as clean_tmp, atomic_path(removed_path) as removed_tmp, \
            open(clean_tmp, "w", encoding="utf-8") as clean, open(removed_tmp, "w", encoding="utf-8") as removed:
        for spec in data:
            ctx = ReadContext(spec, on_bad_row, quarantine)
            for pair, match in decon.scan(iter_pairs(spec, ctx=ctx)):
                table.add(pair, match)
                if match is None:
                    clean.write(_json(pair.to_dict()))
                else:
                    removed.write(_json(match.record(pair, index)))
            data_reports.append(ctx.report.as_dict())
    result = {
        "n": n, "fields": fields,
        "benchmarks": bench_reports,
        "benchmark_prompts_with_ngrams": index.n_with_ngrams,
        "data": data_reports,
        "table4": table.rows(),
        "benchmark_subsets": table.matched_per_subset(),
        "seconds": round(time.perf_counter() - t0, 3),
    }
    write_json_atomic(out / "table4.json", result)
    print_table4(result, console or Console())
    return {"pairs": clean_path, "removed": removed_path, "table4": out / "table4.json", **result}


def print_table4(result: dict[str, Any], console: Console) -> None:
    total_refs = sum(b["prompts"] for b in result["benchmarks"])
    names = ", ".join(b["benchmark"] for b in result["benchmarks"])
    t = Table(title=f"Table 4: {result['n']}-gram matches against {names} ({total_refs:,} prompts, "
                    f"{result['benchmark_prompts_with_ngrams']:,} with >= {result['n']} tokens); "
                    f"fields={result['fields']}")
    t.add_column("Dataset", overflow="fold")
    for col in ("bench\nmatched", "contam.\nprompts", "contam.\npairs", "prompts", "pairs"):
        t.add_column(col, justify="right", no_wrap=True, min_width=7)
    t.caption = ("bench matched: benchmark prompts with an n-gram match; contam.: contaminated training "
                 "prompts (distinct) and pairs")
    for row in result["table4"]:
        t.add_row(row["source"], *(f"{row[k]:,}" for k in ("benchmark_prompts_matched", "contaminated_prompts",
                                                            "contaminated_pairs", "prompts", "pairs")))
    console.print(t)


def _json(obj: dict[str, Any]) -> str:
    return json.dumps(obj, ensure_ascii=False) + "\n"
