"""`rewardkit curate RECIPE.yaml [k=v ...]`: run a curation recipe (paper section 3.2) end to end.

Order of work (the recipe's order is the mix order; the work order differs only where the chain needs
it): sources without an rm_agreement step -> the Magpie selection -> (train the RM-filter model on those,
when the recipe asks) -> sources with an rm_agreement step -> mix: duplicate removal, mix steps, seeded
shuffle -> outputs. Outputs in OUT_DIR: pairs.parquet, pairs.jsonl, counts.json, drops.jsonl,
recipe.yaml (resolved), report.md and the figures.
"""

from __future__ import annotations

import gc
import re
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console

from rewardkit.curation.config import CurateConfig, RMAgreementConfig, SourceConfig, StepConfig
from rewardkit.curation.counts import CurationCounts
from rewardkit.curation.magpie import MagpieSelect
from rewardkit.curation.mix import Dedupe, shuffled, write_mix
from rewardkit.curation.refusal import AdversarialOnly
from rewardkit.curation.rm_filter import RMAgreement
from rewardkit.curation.steps import DropLog, RunReport, Step, run_steps
from rewardkit.data.io import write_json_atomic, write_pairs, write_text_atomic
from rewardkit.data.pairs import PreferencePair
from rewardkit.errors import own_output_dir
from rewardkit.recipe import dump_recipe
from rewardkit.data.sources import iter_pairs
from rewardkit.data.sources.base import ReadContext, fresh_quarantine
from rewardkit.training import train_from_config


class Curation:
    """One run's state: read reports, step counts, the drop log, timings, and models it trained."""

    def __init__(self, cfg: CurateConfig, out_dir: Path, console: Console, drops: DropLog | None,
                 stack: ExitStack):
        self.cfg, self.out_dir, self.console, self.drops, self.stack = cfg, out_dir, console, drops, stack
        self.step_dirs: set[Path] = set()
        self.report = RunReport()
        self.reads: dict[str, list[dict]] = {}
        self.timings: dict[str, float] = {}
        self.rm_model: str | None = None
        self.scorers: list[BoundedScorer] = []
        self.quarantine = fresh_quarantine(out_dir / "quarantine.jsonl") if cfg.on_bad_row == "skip" else None

    def read(self, label: str, spec: str) -> Iterator[PreferencePair]:
        ctx = ReadContext(spec, self.cfg.on_bad_row, self.quarantine)
        self.reads.setdefault(label, []).append(ctx.report)
        return iter_pairs(spec, ctx=ctx)

    def steps(self, configs: list[StepConfig], others: list[PreferencePair], label: str) -> list[Step]:
        return [self.step(c, others, label) for c in configs]

    def step(self, c: StepConfig, others: list[PreferencePair], label: str) -> Step:
        if c.kind == "adversarial_only":
            return AdversarialOnly()
        if c.kind == "rm_agreement":
            return RMAgreement(self.scorer(c.rm_agreement, others))
        if c.kind == "decontaminate":
            from rewardkit.decontamination.run import open_step

            # The stage's output set per step: removed.jsonl and table4.json, written when the run ends well.
            return self.stack.enter_context(open_step(c.decontaminate, self.step_dir("decontaminate", label),
                                                      self.cfg.on_bad_row, self.console))
        if c.kind == "hard_pairs":
            from rewardkit.hardpairs.run import HardPairsStep

            return HardPairsStep(c.hard_pairs)
        raise AssertionError(c.kind)

    def step_dir(self, kind: str, label: str) -> Path:
        """OUT_DIR/KIND/LABEL (LABEL-2, ... when one stream has two such steps)."""
        base = self.out_dir / kind / (re.sub(r"[^\w.-]+", "_", label) or "_")
        path, k = base, 2
        while path in self.step_dirs:
            path, k = base.with_name(f"{base.name}-{k}"), k + 1
        self.step_dirs.add(path)
        return path

    def scorer(self, c: RMAgreementConfig, others: list[PreferencePair]):
        from rewardkit.evaluation.checks import check_max_length
        from rewardkit.models.scoring import RewardModel

        model = c.model or self.rm_model or self.train_rm(c, others)
        rm = RewardModel.load(model, dtype=c.dtype, seed=c.seed)
        check_max_length(rm.tokenizer, c.max_length, "rm_agreement.max_length")
        self.scorers.append(BoundedScorer(rm, **c.score_kw()))
        return self.scorers[-1]

    def train_rm(self, c: RMAgreementConfig, others: list[PreferencePair]) -> str:
        """Paper 3.2.2: "an early version of our reward model, trained on the other datasets"."""
        t = time.perf_counter()
        run_dir = own_output_dir(self.out_dir / "rm_filter_model")  # training's out_dir: ours before its data
        data = run_dir / "train_pairs.jsonl"
        write_pairs(data, others)
        cfg = c.train.model_copy(update={"data": [f"pairs:{data}"]})
        self.console.print(f"[curate] training the RM-filter model on {len(others)} pairs of the other sources")
        self.rm_model = str(train_from_config(cfg, run_dir))
        self.timings["train RM-filter model"] = time.perf_counter() - t
        return self.rm_model

    def source(self, s: SourceConfig, others: list[PreferencePair]) -> list[PreferencePair]:
        t = time.perf_counter()
        pairs = list(run_steps(self.read(s.name, s.spec), self.steps(s.steps, others, s.name), report=self.report,
                               drops=self.drops, label=s.name))
        self.timings[s.name] = time.perf_counter() - t
        return pairs

    def magpie(self) -> tuple[list[PreferencePair], MagpieSelect]:
        m = self.cfg.magpie
        t = time.perf_counter()
        pool = [p for spec in m.specs for p in self.read("Magpie", spec)]
        self.timings["Magpie: read"] = time.perf_counter() - t
        t = time.perf_counter()
        select = MagpieSelect(offsets=dict(m.offsets), fractions=dict(m.fractions), other_group=m.other_group)
        selected = list(run_steps(pool, [select, *self.steps(m.steps, [], "Magpie")], report=self.report,
                                  drops=self.drops, label="Magpie"))
        self.timings["Magpie: select"] = time.perf_counter() - t
        return selected, select


class BoundedScorer:
    """`score_pairs` with the recipe's scoring options (max_length, batch_tokens): a RewardModel cuts a
    long pair's prompt identically for both responses; how many it cut is kept in `truncated`."""

    def __init__(self, model, **score_kw):
        self.model, self.score_kw = model, score_kw  # RewardModel.score_pairs' max_length, batch_tokens
        self.truncated = 0

    def score_pairs(self, pairs: list[PreferencePair]) -> list[tuple[float, float]]:
        scores = self.model.score_pairs(pairs, **self.score_kw)
        self.truncated += self.model.truncated
        return scores


@contextmanager
def _no_cyclic_gc():
    """Pause the cyclic GC while pools are built: holding ~344K pairs (millions of small dicts and lists,
    none in a reference cycle) makes each full collection walk them all, which measured ~1.5x slower
    reading of the Magpie pool. Reference counting still frees everything as usual."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _counts(run: Curation, mixed: list[PreferencePair], dedupe: Dedupe, drops: DropLog | None,
            select: MagpieSelect | None) -> CurationCounts:
    """counts.json: every number of the run, each traceable to its read report, step or drop log."""
    return CurationCounts(
        total=len(mixed),
        per_source=dict(Counter(p.source for p in mixed).most_common()),
        reads={label: [r.as_dict() for r in reports] for label, reports in run.reads.items()},
        steps=run.report.as_dict(),
        duplicates=[{"dropped_from": a, "kept_from": b, "n": n} for (a, b), n in dedupe.overlap.most_common()],
        drops_written=drops.written if drops else None,
        magpie=None if select is None else {
            "groups": {g: s.as_dict() for g, s in select.groups.items()},
            "categories": {c: dict(v) for c, v in sorted(select.categories.items())},
        },
        rm_filter_model=run.rm_model,
        rm_filter_truncated_pairs=sum(s.truncated for s in run.scorers),  # cut to max_length, still scored
    )


def curate(cfg: CurateConfig, out_dir: str | Path | None = None, console: Console | None = None) -> dict[str, Any]:
    """Run a curation recipe; returns the output paths and the counts (results["curate"] in the pipeline)."""
    console = console or Console()
    out = own_output_dir(out_dir or cfg.out_dir or "runs/curate")
    write_text_atomic(out / "recipe.yaml", dump_recipe(cfg))
    started = time.perf_counter()
    with ExitStack() as stack:
        stack.enter_context(_no_cyclic_gc())
        drops = stack.enter_context(DropLog(out / "drops.jsonl", full=cfg.drops_with_pairs)) if cfg.write_drops else None
        run = Curation(cfg, out, console, drops, stack)
        has_rm = [any(s.kind == "rm_agreement" for s in src.steps) for src in cfg.sources]
        curated: dict[str, list[PreferencePair]] = {}
        for src, rm in zip(cfg.sources, has_rm):
            if not rm:
                curated[src.name] = run.source(src, [])
        select = None
        if cfg.magpie is not None:
            curated["Magpie"], select = run.magpie()
        others = [p for pairs in curated.values() for p in pairs]
        for src, rm in zip(cfg.sources, has_rm):
            if rm:
                curated[src.name] = run.source(src, others)
        del others

        t = time.perf_counter()
        order = [s.name for s in cfg.sources] + (["Magpie"] if cfg.magpie is not None else [])
        dedupe = Dedupe()
        stream = (p for name in order for p in curated.pop(name))
        mixed = list(run_steps(stream, [dedupe, *run.steps(cfg.mix_steps, [], "mix")], report=run.report,
                               drops=drops, label="mix"))
        mixed = shuffled(mixed, cfg.seed)
        run.timings["mix: dedupe + steps + shuffle"] = time.perf_counter() - t
        t = time.perf_counter()
        paths = write_mix(mixed, out)
        run.timings["write pairs"] = time.perf_counter() - t

    counts = _counts(run, mixed, dedupe, drops, select)
    write_json_atomic(out / "counts.json", counts.model_dump(mode="json"))
    results = {"pairs": paths["parquet"], "jsonl": paths["jsonl"], "counts": out / "counts.json",
               "recipe": out / "recipe.yaml", "n_pairs": len(mixed)}
    if cfg.write_drops:
        results["drops"] = out / "drops.jsonl"

    t = time.perf_counter()
    from rewardkit.curation.report import write_mixture_report

    results.update(write_mixture_report(mixed, counts, select, cfg.report, out, console))
    run.timings["mixture report"] = time.perf_counter() - t
    run.timings["total"] = time.perf_counter() - started
    results["timings"] = run.timings
    write_json_atomic(out / "timings.json", run.timings)
    return results
