"""`rewardkit evaluate`: score pair datasets with a reward model and write every number (I/O edge).

    rewardkit evaluate --model smollm2 --data rewardbench:../shared/data/rewardbench-filtered-first500/reward_bench_filtered_sample.jsonl --out runs/eval
    rewardkit evaluate --scores runs/eval/results.json        # recompute every number, no model

DIR/results.json holds the settings, every example as {"id", "subset", "dataset", "score_chosen",
"score_rejected"} and the summary of `rewardkit.evaluation.rewardbench.summarize` (subsets, datasets with bootstrap
intervals, sections, overall, table2). Pairs longer than max_length are truncated (never dropped: every
example must be scored) and counted per dataset in "truncated_pairs".
"""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from rewardkit.evaluation.checks import check_examples, check_max_length
from rewardkit.evaluation.rewardbench import SECTIONS, summarize
from rewardkit.data.io import write_json_atomic
from rewardkit.errors import check_output_dir, check_output_file
from rewardkit.options import ReadOptions, ScoringOptions


class EvaluateConfig(ScoringOptions, ReadOptions):
    """The pipeline's `evaluate:` section and `rewardkit evaluate`'s options."""

    model: str | None = None
    """Model to evaluate: alias, HF dir/id or .gguf; default the trained model when train ran, else smollm2."""
    data: list[str] = []
    """Pair datasets as spec strings; RewardBench rows (reader `rewardbench`) also get section scores."""


class ScoreConfig(ScoringOptions, ReadOptions):
    """`rewardkit score`'s options."""

    model: str
    """Alias (smollm2, minilm), HF dir/id or .gguf file."""
    data: str
    """A pair dataset as a spec string."""
    out: Path
    """Output .jsonl: each pair with score_chosen, score_rejected and truncated."""


def evaluate(cfg: EvaluateConfig, out_dir: str | Path, console: Console | None = None) -> dict:
    """Score every pair of cfg.data with cfg.model; write out_dir/results.json; return the results."""
    from rewardkit.models.scoring import RewardModel
    from rewardkit.data.sources import read_pairs
    from rewardkit.data.sources.base import fresh_quarantine

    console = console or Console()
    if not cfg.data:
        raise ValueError("evaluate: no data specs given")
    out_dir = check_output_dir(out_dir)  # before an hour of scoring
    acc = _accelerator_if_launched()  # first, so each rank loads straight onto its own device
    main = acc is None or acc.is_main_process
    rm = RewardModel.load(cfg.model or "smollm2", dtype=cfg.dtype, seed=cfg.seed,
                          device=None if acc is None else acc.device)
    check_max_length(rm.tokenizer, cfg.max_length)
    examples, truncated, read_reports = [], {}, {}
    for i, spec in enumerate(cfg.data):
        pairs, report = read_pairs(spec, on_bad_row=cfg.on_bad_row,
                                   quarantine=fresh_quarantine(out_dir / f"quarantine-{i}.jsonl"))
        read_reports[spec] = report.summary()
        scored = _score_pairs(rm, pairs, cfg, acc)
        truncated[spec] = sum(cut for _, cut in scored)
        for p, ((sc, sr), _) in zip(pairs, scored):
            examples.append({"id": p.source_id or p.id, "subset": p.meta.get("subset") or p.source,
                             "dataset": spec, "score_chosen": sc, "score_rejected": sr})
        if main:
            console.print(f"{spec}: {len(pairs)} pairs scored, {truncated[spec]} truncated", highlight=False)
    notes = check_examples(examples, f"scores of {cfg.model or 'smollm2'}")  # e.g. NaN from a broken model
    results = {
        "model": str(cfg.model or "smollm2"), "settings": cfg.model_dump(mode="json"),
        "truncated_pairs": truncated, "read": read_reports, "processes": 1 if acc is None else acc.num_processes,
        "examples": examples, **summarize(examples),
    }
    if main:  # every rank holds all scores; one writes
        write_json_atomic(out_dir / "results.json", results)
        print_summary(results, console)
        print_notes(notes, console)
        console.print(f"wrote {out_dir / 'results.json'}", highlight=False)
    if acc is not None:
        acc.wait_for_everyone()
        acc.end_training()  # destroys the process group, so no rank aborts at exit while another tears down
    return results


def recompute(results_path: str | Path, console: Console | None = None, out_dir: str | Path | None = None) -> dict:
    """Every number again from the stored per-example scores; no model needed. With `out_dir`, the
    stored results with every summary number replaced by the recomputed one go to out_dir/results.json."""
    path = Path(results_path)
    out = None if out_dir is None else check_output_dir(out_dir)  # before the work, as evaluate does
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: invalid JSON ({e.msg} at line {e.lineno})") from None
    examples = stored.get("examples") if isinstance(stored, dict) else None
    notes = check_examples(examples, str(path))  # before any number is printed
    summary = summarize(examples)
    console = console or Console()
    print_summary(summary, console)
    print_notes(notes, console)
    if out is not None:
        write_json_atomic(out / "results.json", {**stored, **summary})
        console.print(f"wrote {out / 'results.json'}", highlight=False)
    return summary


def print_notes(notes: list[str], console: Console) -> None:
    for note in notes:
        console.print(f"note: {note}", highlight=False, markup=False)


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{100 * v:.1f}"


def print_summary(summary: dict, console: Console) -> None:
    table = Table(title="Per subset", title_justify="left")
    for col in ("subset", "n", "correct", "accuracy"):
        table.add_column(col, justify="left" if col == "subset" else "right")
    for name, s in summary["subsets"].items():
        table.add_row(name, str(s["n"]), str(s["correct"]), _pct(s["accuracy"]))
    console.print(table)
    datasets = Table(title="Per dataset (bootstrap 95% interval)", title_justify="left")
    for col in ("dataset", "n", "accuracy", "95% CI"):
        datasets.add_column(col, justify="left" if col == "dataset" else "right")
    for name, d in summary["datasets"].items():
        datasets.add_row(name, str(d["n"]), _pct(d["accuracy"]), f"{_pct(d['ci95'][0])}–{_pct(d['ci95'][1])}")
    console.print(datasets)
    if "sections" not in summary:
        return
    row = Table(title="RewardBench (report Table 2 format)", title_justify="left")
    for col in ("Avg", *SECTIONS):
        row.add_column(col, justify="right")
    row.add_row(_pct(summary["overall"]), *(_pct(summary["sections"][s]) for s in SECTIONS))
    console.print(row)
    if summary["overall"] is None:
        console.print(f"Avg needs all four sections (missing ones shown —). Mean of the sections present: "
                      f"{_pct(summary['overall_present_sections'])}; the official scorer, counting missing "
                      f"sections as 0: {_pct(summary['overall_official_zero_fill'])}.", highlight=False)


def _accelerator_if_launched():
    """An Accelerator when started by `accelerate launch` / torchrun with several processes, else None
    (a plain run needs no process group)."""
    import os

    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return None
    from accelerate import Accelerator

    return Accelerator()


def _score_pairs(rm, pairs, cfg: EvaluateConfig, acc) -> list[tuple[tuple[float, float], bool]]:
    """((chosen, rejected), truncated) per pair, each process scoring its shard when launched."""
    def shard_scores(shard):
        scores = rm.score_pairs(shard, **cfg.score_kw(), progress=None if acc is None or acc.is_main_process else False)
        return list(zip(scores, rm.truncated_flags))

    if acc is None:
        return shard_scores(pairs)
    from rewardkit.models.scoring import map_distributed

    return map_distributed(pairs, shard_scores, acc)


def run_stage(cfg: EvaluateConfig, out_dir: Path, results: dict, console: Console) -> dict:
    """Pipeline stage: evaluate the trained model when train ran, else cfg.model (default smollm2)."""
    if cfg.model is None and "train" in results:
        cfg = cfg.model_copy(update={"model": str(results["train"]["model"])})
    res = evaluate(cfg, out_dir, console)
    return {"results": Path(out_dir) / "results.json", "table2": res.get("table2")}


def score_file(cfg: ScoreConfig, console: Console | None = None) -> int:
    """`rewardkit score`: every pair of `spec` with its two scores, as jsonl (the pair's own fields plus
    score_chosen, score_rejected, truncated). Returns the number of pairs written."""
    from rewardkit.data.io import write_jsonl_atomic
    from rewardkit.models.scoring import RewardModel
    from rewardkit.data.sources import read_pairs
    from rewardkit.data.sources.base import fresh_quarantine
    console = console or Console()
    out = check_output_file(cfg.out)
    pairs, report = read_pairs(cfg.data, on_bad_row=cfg.on_bad_row,
                               quarantine=fresh_quarantine(out.with_name(out.name + ".quarantine.jsonl")))
    rm = RewardModel.load(cfg.model, dtype=cfg.dtype, seed=cfg.seed)
    check_max_length(rm.tokenizer, cfg.max_length)
    scores = rm.score_pairs(pairs, **cfg.score_kw())
    n = write_jsonl_atomic(out, (
        {**p.to_dict(), "score_chosen": sc, "score_rejected": sr, "truncated": cut}
        for p, (sc, sr), cut in zip(pairs, scores, rm.truncated_flags)))
    console.print(report.summary(), highlight=False)
    console.print(f"wrote {n} scored pairs to {out} ({rm.truncated} truncated)", highlight=False)
    return n
