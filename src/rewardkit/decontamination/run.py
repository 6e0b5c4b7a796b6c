"""`rewardkit decontaminate --data SPEC --benchmark SPEC --out DIR [--n 7] [--fields first_user]`.

The I/O edge of decontamination: read benchmark prompts and training pairs from spec strings, run the
one decontamination step (`filter.DecontaminationStep`) over the pairs, and write, each atomically,
  DIR/clean.jsonl     the pairs kept (rewardkit's pair format; read back with ``pairs:DIR/clean.jsonl``)
  DIR/removed.jsonl   one line per removed pair: pair id, source, matched n-grams, benchmark ids, subsets
  DIR/table4.json     the paper's Table 4 per source and in total, plus matches per benchmark subset.
As a curation step (`open_step`), the same removed.jsonl and table4.json go to the step's folder and the
kept pairs flow on to the curated mix.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from rewardkit.data.io import atomic_path, write_json_atomic
from rewardkit.errors import UserError, own_output_dir
from rewardkit.data.sources import get_reader, iter_pairs
from rewardkit.data.sources.base import ReadContext, RefPrompt, fresh_quarantine, parse_spec
from rewardkit.decontamination.config import DecontaminateConfig, DecontaminateStage
from rewardkit.decontamination.filter import DecontaminationStep
from rewardkit.decontamination.index import NgramIndex, build_index
from rewardkit.options import DEFAULT_ON_BAD_ROW, OnBadRow


def load_references(specs: Iterable[str], on_bad_row: OnBadRow = DEFAULT_ON_BAD_ROW
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
        if not refs:  # an empty reference set would pass every pair as clean
            raise UserError(f"benchmark {text}: 0 prompts read ({ctx.report.summary()}); a reference set must "
                            "have prompts, else every pair passes as clean")
        name, k = spec.reader, 2
        while name in groups:  # two specs of one reader stay distinguishable in benchmark ids
            name, k = f"{spec.reader}#{k}", k + 1
        groups[name] = refs
        reports.append({**ctx.report.as_dict(), "benchmark": name, "prompts": len(refs)})
    return groups, reports


def usable_index(groups: dict[str, list[RefPrompt]], n: int) -> NgramIndex:
    """build_index, refusing an index no pair could ever match (every prompt shorter than n words)."""
    index = build_index(groups, n)
    if index.n_with_ngrams == 0:
        total = sum(len(refs) for refs in groups.values())
        raise UserError(f"benchmark {', '.join(groups)}: none of its {total} prompts has {n} words, so no "
                        f"{n}-gram can match and every pair would pass as clean; lower --n or check the data")
    return index


@contextmanager
def open_step(cfg: DecontaminateConfig, out_dir: str | Path, on_bad_row: OnBadRow = DEFAULT_ON_BAD_ROW,
              console: Console | None = None, data_reports: list | None = None) -> Iterator[DecontaminationStep]:
    """The step against cfg.benchmark; on a clean exit out_dir holds removed.jsonl and table4.json (with
    `data_reports`, the reads of the pairs, when given) and Table 4 is printed. A failure leaves neither."""
    out, t0 = Path(out_dir), time.perf_counter()
    groups, bench_reports = load_references(cfg.benchmark, on_bad_row)
    index = usable_index(groups, cfg.n)
    with atomic_path(out / "removed.jsonl") as tmp, open(tmp, "w", encoding="utf-8") as removed:
        step = DecontaminationStep(index, cfg.fields, lambda record: removed.write(_json(record)))
        yield step
    result = {"n": cfg.n, "fields": cfg.fields, "benchmarks": bench_reports,
              "benchmark_prompts_with_ngrams": index.n_with_ngrams,
              **({} if data_reports is None else {"data": data_reports}),
              "table4": step.table.rows(), "benchmark_subsets": step.table.matched_per_subset(),
              "seconds": round(time.perf_counter() - t0, 3)}
    write_json_atomic(out / "table4.json", result)
    print_table4(result, console or Console())
    step.result = result


def decontaminate(cfg: DecontaminateStage, out_dir: str | Path, console: Console | None = None) -> dict[str, Any]:
    """The step over every pair of cfg.data; returns the paths and Table 4."""
    if not cfg.data:
        raise ValueError("decontaminate: no --data specs given")
    if not cfg.benchmark:
        raise ValueError("decontaminate: no --benchmark specs given")
    out = own_output_dir(out_dir)
    data_reports: list[dict[str, Any]] = []
    quarantine = fresh_quarantine(out / "quarantine.jsonl")  # skipped input rows (on_bad_row="skip")
    clean_path = out / "clean.jsonl"
    with open_step(cfg, out, cfg.on_bad_row, console, data_reports) as step, \
            atomic_path(clean_path) as clean_tmp, open(clean_tmp, "w", encoding="utf-8") as clean:
        for spec in cfg.data:
            ctx = ReadContext(spec, cfg.on_bad_row, quarantine)
            for pair, keep, _ in step.decide(iter_pairs(spec, ctx=ctx)):
                if keep:
                    clean.write(_json(pair.to_dict()))
            data_reports.append(ctx.report.as_dict())
    return {"pairs": clean_path, "removed": out / "removed.jsonl", "table4": out / "table4.json", **step.result}


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
