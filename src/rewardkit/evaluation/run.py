"""`rewardkit evaluate`: score benchmarks with a reward model and write every number (I/O edge).

    rewardkit evaluate --model smollm2 --data rewardbench:reward_bench_filtered.jsonl --out runs/eval
    rewardkit evaluate --model smollm2 --data rewardbench2:data/rewardbench2-mini.jsonl \
        --data rmbench:rm-bench/code_filtered.json \
        --best-of-n helpsteer2:HelpSteer.jsonl --out runs/eval
    rewardkit evaluate --scores runs/eval/results.json        # recompute every number, no model
    rewardkit evaluate --scores A/results.json --scores B/results.json   # side by side, paired intervals

DIR/results.json holds the settings, every pair example as {"id", "subset", "dataset", "score_chosen",
"score_rejected"} with the summary of `rewardkit.evaluation.rewardbench.summarize` (subsets, datasets with
bootstrap intervals, sections, overall, table2), and one section per multi-response benchmark:
"rewardbench2" ({"id", "subset", "scores": [correct..., incorrect...], "num_correct"}), "rmbench" ({"id",
"domain", "score_chosen": [3], "score_rejected": [3]}) and "best_of_n" ({"id", "dataset", "scores",
"ratings"}), each with its examples and summary. Sequences longer than max_length are truncated (never
dropped: every example must be scored) and counted per spec: pairs in "truncated_pairs", the sets'
conversations in "truncated_conversations".
"""

from __future__ import annotations

import math
import json
import os
import time
from pathlib import Path

from rich.console import Console

from rewardkit.data.io import SURROGATE_REASON, check_surrogates, write_json_atomic, write_jsonl_atomic
from rewardkit.data.sources.base import ReadReport, fresh_quarantine, parse_spec
from rewardkit.errors import UserError, check_output_dir, check_output_file, own_output_dir
from rewardkit.evaluation import sets
from rewardkit.evaluation.bootstrap import N_BOOT
from rewardkit.evaluation.checks import check_examples, check_max_length, check_set_examples
from rewardkit.evaluation.results import EvaluationResults
from rewardkit.evaluation.rewardbench import summarize
from rewardkit.evaluation.tables import PRINTERS, print_comparison, print_summary
from rewardkit.models.card import FACTS, evaluation_facts, update_card
from rewardkit.options import DEFAULT_MODEL, ReadOptions, ScoringOptions
from rewardkit.data.sources import read_pairs
from rewardkit.data.sources.sets import read_sets


class EvaluateConfig(ScoringOptions, ReadOptions):
    """The pipeline's `evaluate:` section and `rewardkit evaluate`'s options."""

    model: str | None = None
    """Model to evaluate: alias, HF dir/id or .gguf; default the trained model when train ran, else smollm2."""
    data: list[str] = []
    """Benchmarks and pair datasets as spec strings: `rewardbench` rows get section scores, `rewardbench2`
    and `rmbench` rows their benchmark's official scoring, any other pair reader accuracy."""
    best_of_n: list[str] = []
    """Datasets with several rated responses per prompt (readers helpsteer2, magpie_pro, magpie_pro_llama31,
    magpie_air): best-of-N top-1 accuracy and Spearman correlation with the ratings."""


class ScoreConfig(ScoringOptions, ReadOptions):
    """`rewardkit score`'s options."""

    model: str
    """Alias (smollm2, minilm), HF dir/id or .gguf file."""
    data: str
    """A pair dataset as a spec string."""
    out: Path
    """Output .jsonl: each pair with score_chosen, score_rejected and truncated."""


def evaluate(cfg: EvaluateConfig, out_dir: str | Path, console: Console | None = None) -> dict:
    """Score every spec of cfg.data and cfg.best_of_n with cfg.model; write out_dir/results.json; return it."""
    from rewardkit.models.scoring import RewardModel

    console = console or Console()
    if not cfg.data and not cfg.best_of_n:
        raise ValueError("evaluate: no data specs given")
    out_dir = check_output_dir(out_dir)  # before an hour of scoring
    t0 = time.perf_counter()
    acc = _accelerator_if_launched()  # first, so each rank loads straight onto its own device
    main = acc is None or acc.is_main_process
    model = cfg.model or DEFAULT_MODEL
    rm = RewardModel.load(model, dtype=cfg.dtype, seed=cfg.seed,
                          device=None if acc is None else acc.device)
    check_max_length(rm.tokenizer, cfg.max_length)
    say = (lambda msg: console.print(msg, highlight=False)) if main else (lambda msg: None)
    examples, truncated, truncated_convs, read_reports = [], {}, {}, {}
    set_examples: dict[str, list] = {}
    if main:
        own_output_dir(out_dir)
    jobs = [(spec, sets.section_of(parse_spec(spec).reader)) for spec in cfg.data]
    jobs += [(spec, "best_of_n") for spec in cfg.best_of_n]
    for i, (spec, section) in enumerate(jobs):
        quarantine = fresh_quarantine(out_dir / f"quarantine-{i}.jsonl")
        if section is None:
            scored, report = _pair_examples(rm, spec, cfg, acc, quarantine)
            examples += scored
            truncated[spec] = sum(e.pop("_truncated") for e in scored)
        else:
            scored, report, truncated_convs[spec] = _set_examples(rm, spec, section, cfg, acc, quarantine)
            set_examples.setdefault(section, []).extend(scored)
        read_reports[spec] = report.summary()
        cut = f"{truncated[spec]} truncated" if section is None else f"{truncated_convs[spec]} conversations truncated"
        say(f"{spec}: {len(scored)} {'pairs' if section is None else 'sets'} scored, {cut}")
    notes = _checked(examples, set_examples, f"scores of {model}")  # e.g. NaN from a broken model
    results = EvaluationResults(
        model=str(model), settings=cfg.model_dump(mode="json"),
        truncated_pairs=truncated, truncated_conversations=truncated_convs, read=read_reports,
        processes=1 if acc is None else acc.num_processes,
        dtype=str(rm.model.dtype).removeprefix("torch."), seconds=round(time.perf_counter() - t0, 1),
        examples=examples, **summarize_all(examples, set_examples),
    ).as_json()
    if main:  # every rank holds all scores; one writes
        write_json_atomic(out_dir / "results.json", results)
        print_all(results, console)
        print_notes(notes, console)
        console.print(f"wrote {out_dir / 'results.json'}", highlight=False)
        _update_card(cfg.model, [spec for spec, _ in jobs], results, out_dir / "results.json")
    if acc is not None:
        acc.wait_for_everyone()
        acc.end_training()  # destroys the process group, so no rank aborts at exit while another tears down
    return results


def _update_card(model: str | None, specs: list[str], results: dict, path: Path) -> None:
    """A model directory rewardkit exported (it has card facts) gets this evaluation in its model card,
    replacing an earlier one of the same data; other models' directories are left untouched."""
    if model is None or not (Path(model) / FACTS).is_file():
        return
    update_card(model, evaluations={", ".join(specs): {**evaluation_facts(results), "results": str(path)}})


def _pair_examples(rm, spec: str, cfg: EvaluateConfig, acc, quarantine) -> tuple[list[dict], ReadReport]:
    pairs, report = read_pairs(spec, on_bad_row=cfg.on_bad_row, quarantine=quarantine)
    scored = _score_pairs(rm, pairs, cfg, acc)
    return [{"id": p.source_id or p.id, "subset": p.meta.get("subset") or p.source, "dataset": spec,
             "score_chosen": sc, "score_rejected": sr, "_truncated": cut}
            for p, ((sc, sr), cut) in zip(pairs, scored)], report


def _set_examples(rm, spec: str, section: str, cfg: EvaluateConfig, acc, quarantine
                  ) -> tuple[list[dict], ReadReport, int]:
    found, report = read_sets(spec, on_bad_row=cfg.on_bad_row, quarantine=quarantine)
    if section == "best_of_n" and any(s.ratings is None for s in found):
        raise ValueError(f"{spec}: best-of-N needs rated responses; this reader gives none")
    scored = sets.score_sets(rm, found, **cfg.score_kw(), accelerator=acc)
    return ([sets.example(section, s, sc, spec) for s, (sc, _) in zip(found, scored)], report,
            sum(cut for _, cut in scored))


def summarize_all(examples: list[dict], set_examples: dict[str, list]) -> dict:
    """The pair summary at the top level (when there are pairs) and one section per set benchmark."""
    out = summarize(examples) if examples else {}
    for section, rows in set_examples.items():
        out[section] = {"examples": rows, **sets.SUMMARIZERS[section](rows)}
    return out


def _checked(examples: list[dict], set_examples: dict[str, list], where: str) -> list[str]:
    """Refuse scores no number may come from (rewardkit.evaluation.checks); the notes."""
    for section, rows in set_examples.items():
        check_set_examples(section, rows, where)
    return check_examples(examples, where) if examples else []


def print_notes(notes: list[str], console: Console) -> None:
    for note in notes:
        console.print(f"note: {note}", highlight=False, markup=False)


def print_all(results: dict, console: Console) -> None:
    if results.get("examples"):
        print_summary(results, console)
    for section, printer in PRINTERS.items():
        if section in results:
            printer(results[section], console)


def _load_results(results_path: str | Path) -> dict:
    """The checked examples of a results.json per section, its notes, and the whole file as read ("raw")."""
    path = Path(results_path)
    try:
        text = path.read_text(encoding="utf-8")
        stored = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: invalid JSON ({e.msg} at line {e.lineno})") from None
    if where := check_surrogates(text, stored):
        raise UserError(f"{path}: {where}: {SURROGATE_REASON}")
    if not isinstance(stored, dict):
        raise ValueError(f"{path}: expected a results.json written by `rewardkit evaluate`")
    examples = stored.get("examples") or []
    found = {s: stored[s].get("examples") if isinstance(stored[s], dict) else None
             for s in sets.SECTIONS if s in stored}
    if not examples and not found:
        raise ValueError(f"{path}: no 'examples' list nor any of {sets.SECTIONS}; expected a results.json "
                         "written by `rewardkit evaluate`")
    notes = _checked(examples, found, str(path))  # before any number is printed
    return {"model": stored.get("model"), "examples": examples, "notes": notes, "raw": stored,
            **{s: {"examples": v} for s, v in found.items()}}


def recompute(results_path: str | Path, console: Console | None = None, out_dir: str | Path | None = None) -> dict:
    """Every number again from the stored per-example scores; no model needed. With `out_dir`, the
    stored results with every summary number replaced by the recomputed one go to out_dir/results.json."""
    out = None if out_dir is None else check_output_dir(out_dir)  # before the work, as evaluate does
    stored = _load_results(results_path)
    summary = summarize_all(stored["examples"], {s: stored[s]["examples"] for s in sets.SECTIONS if s in stored})
    console = console or Console()
    print_all({"examples": stored["examples"], **summary}, console)
    print_notes(stored["notes"], console)
    if out is not None:
        own_output_dir(out)
        write_json_atomic(out / "results.json", {**stored["raw"], **summary})
        console.print(f"wrote {out / 'results.json'}", highlight=False)
    return summary


COMPARISON = "comparison.json"


def compare_files(paths: list[str | Path], console: Console | None = None, out_dir: str | Path | None = None, *,
                  n_boot: int = N_BOOT) -> list[dict]:
    """Two or more results.json side by side: every row's paired bootstrap interval of the difference;
    with `out_dir`, the rows also go to out_dir/comparison.json."""
    from rewardkit.evaluation.compare import compare

    out = None if out_dir is None else check_output_dir(out_dir)  # before the work, as evaluate does
    loaded = [_load_results(p) for p in paths]
    names = [f"{r.get('model')} ({p})" for r, p in zip(loaded, paths)]
    rows = compare(loaded, n_boot=n_boot)
    console = console or Console()
    print_comparison(rows, names, console)
    if out is not None:
        own_output_dir(out)
        write_json_atomic(out / COMPARISON, {"models": names, "files": [str(p) for p in paths], "rows": rows})
        console.print(f"wrote {out / COMPARISON}", highlight=False)
    return rows


def _accelerator_if_launched():
    """An Accelerator when started by `accelerate launch` / torchrun with several processes, else None
    (a plain run needs no process group)."""
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
    return {"results": Path(out_dir) / "results.json", "table2": res.get("table2"),
            **{f"{s}_overall": res[s].get("overall") for s in sets.SECTIONS if s in res}}


def score_file(cfg: ScoreConfig, console: Console | None = None) -> int:
    """`rewardkit score`: every pair of `spec` with its two scores, as jsonl (the pair's own fields plus
    score_chosen, score_rejected, truncated). Returns the number of pairs written."""
    from rewardkit.models.scoring import RewardModel

    console = console or Console()
    out = check_output_file(cfg.out, [parse_spec(cfg.data).location])
    pairs, report = read_pairs(cfg.data, on_bad_row=cfg.on_bad_row,
                               quarantine=fresh_quarantine(out.with_name(out.name + ".quarantine.jsonl")))
    rm = RewardModel.load(cfg.model, dtype=cfg.dtype, seed=cfg.seed)
    check_max_length(rm.tokenizer, cfg.max_length)
    scores = rm.score_pairs(pairs, **cfg.score_kw())
    for p, pair_scores in zip(pairs, scores):  # a broken model's NaN would be written as if it were a score
        if not all(math.isfinite(s) for s in pair_scores):
            raise UserError(f"{cfg.model}: scores {pair_scores} for pair {p.id} of {cfg.data}: not finite (the model's "
                            "weights or outputs are broken); nothing written")
    n = write_jsonl_atomic(out, (
        {**p.to_dict(), "score_chosen": sc, "score_rejected": sr, "truncated": cut}
        for p, (sc, sr), cut in zip(pairs, scores, rm.truncated_flags)))
    console.print(report.summary(), highlight=False)
    console.print(f"wrote {n} scored pairs to {out} ({rm.truncated} truncated)", highlight=False)
    return n
