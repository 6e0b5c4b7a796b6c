"""Bias-targeted pairs for a training run: built after the hold-out, from each side's own prompts.

    train, val, counts = for_split(train_pairs, val_pairs, HardPairsConfig(ratio=0.25))

The training pairs are constructed from training prompts and responses only, the held-out ones from
held-out prompts only, so no held-out prompt or response reaches training as chosen, rejected or
neighbour. The same pool and seed give the same pairs (each type draws from its own seeded stream).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator

import numpy as np

from rewardkit.data.pairs import PreferencePair
from rewardkit.hardpairs.build import CONSTRUCTIONS, Unit
from rewardkit.hardpairs.config import SOURCE_PREFIX, HardPairsConfig, JudgeConfig
from rewardkit.hardpairs.pool import band_neighbours, entries

Embed = Callable[[list[str], str], np.ndarray]
"""(texts, embedder name) -> [n, d], rows of norm 1 (rewardkit.hardpairs.embed.embed)."""


def _default_embed(texts: list[str], model: str) -> np.ndarray:
    from rewardkit.hardpairs.embed import embed

    return embed(texts, model)


def candidates(pairs: list[PreferencePair], cfg: HardPairsConfig, embed: Embed | None = None,
               *, side: str = "pool", sparse_ok: bool = False) -> dict[str, list[Unit]]:
    """Every pair each construction can build on `pairs` (type -> units), a pair built by two
    constructions credited to the first in config.BIAS_TYPES order. A pool with fewer than two prompts
    is an error naming `side`; so is one where no prompt has a neighbour in the band, unless `sparse_ok`
    (a held-out sample of a few dozen prompts often has none: its neighbour types then build nothing)."""
    pool = entries(pairs)
    if len(pool) < 2:
        raise ValueError(f"hard_pairs: the {side} has {len(pool)} distinct prompt(s); a neighbour needs at least 2")
    nbrs = band_neighbours(pool, (embed or _default_embed)([e.text for e in pool], cfg.embedder), cfg.band)
    if not any(nbrs) and not sparse_ok:
        raise ValueError(f"hard_pairs: none of the {side}'s {len(pool)} prompts has a neighbour with similarity "
                         f"in band {list(cfg.band)}; widen the band or add prompts")
    seen: set[str] = set()
    out = {}
    for bias in sorted(cfg.types, key=list(CONSTRUCTIONS).index):
        units = CONSTRUCTIONS[bias](pool, nbrs, random.Random(f"hard-pairs-{cfg.seed}-{bias}"))
        fresh = [u for u in units if not any(p.id in seen for p in u)]
        seen.update(p.id for u in fresh for p in u)
        out[bias] = fresh
    return out


def sample_units(units: list[Unit], n: int | None, seed: str) -> list[PreferencePair]:
    """Whole units in seeded order until at least `n` pairs (None: all), flattened."""
    order = list(units)
    random.Random(seed).shuffle(order)
    out: list[PreferencePair] = []
    for unit in order:
        if n is not None and len(out) >= n:
            break
        out.extend(unit)
    return out


def for_split(train: list[PreferencePair], val: list[PreferencePair], cfg: HardPairsConfig,
              embed: Embed | None = None, judge: Callable[[list[PreferencePair]], list[float]] | None = None,
              ) -> tuple[list[PreferencePair], list[PreferencePair], dict]:
    """(train + constructed, val + constructed, counts per type): `built` with the training pairs as
    both the pool and the count the ratio applies to."""
    extra_train, extra_val, counts = built(train, val, cfg, len(train), embed, judge)
    return train + extra_train, val + extra_val, counts


def built(train_pool: list[PreferencePair], val_pool: list[PreferencePair], cfg: HardPairsConfig, n_train: int,
          embed: Embed | None = None, judge: Callable[[list[PreferencePair]], list[float]] | None = None,
          ) -> tuple[list[PreferencePair], list[PreferencePair], dict]:
    """(constructed training pairs, constructed held-out pairs, counts per type). Training gets
    round(ratio x n_train / len(types)) pairs per type (fewer when a type has fewer), built from
    `train_pool` and filtered by `judge` margins when the config has a judge (`judge` defaults to loading
    cfg.judge.model); held-out gets at most max_val_pairs_per_type per type from `val_pool`, never
    filtered (and none of a neighbour type when no held-out prompt has a neighbour in the band: a
    held-out pool is a sample, sparser than the training pool). The pools may be larger than the
    natural pairs a run keeps (max_pairs): more prompts, more neighbours, and still one side each."""
    per_type = round(cfg.ratio * n_train / len(cfg.types))
    counts: dict[str, dict] = {t: {} for t in cfg.types}
    extra_train: list[PreferencePair] = []
    if per_type and cfg.judge is not None and judge is None:
        judge = _judge_margins(cfg.judge)  # one load for every type
    if per_type:
        for bias, units in candidates(train_pool, cfg, embed, side="training pool").items():
            c = counts[bias]
            c["train_candidates"] = sum(map(len, units))
            if cfg.judge is not None:
                pool = sample_units(units, round(cfg.judge.oversample * per_type), f"judge-{cfg.seed}-{bias}")
                units, c["judged"] = hard_units(pool, cfg.judge, judge), len(pool)
                c["kept_by_judge"] = sum(map(len, units))
                c["kept_share"] = c["kept_by_judge"] / c["judged"] if c["judged"] else None
            extra_train += (chosen := sample_units(units, per_type, f"train-{cfg.seed}-{bias}"))
            c["train"] = len(chosen)
    extra_val: list[PreferencePair] = []
    if val_pool:
        for bias, units in candidates(val_pool, cfg, embed, side="held-out pool", sparse_ok=True).items():
            chosen = sample_units(units, cfg.max_val_pairs_per_type, f"val-{cfg.seed}-{bias}")
            counts[bias]["val_candidates"], counts[bias]["val"] = sum(map(len, units)), len(chosen)
            extra_val += chosen
    return extra_train, extra_val, counts


def hard_units(pairs: list[PreferencePair], cfg: JudgeConfig,
               judge: Callable[[list[PreferencePair]], list[float]] | None = None) -> list[Unit]:
    """The units (regrouped: a swapped unit's two mirror pairs stay together) with at least one pair
    the judge ranks wrong or within cfg.max_margin of a tie."""
    margins = (judge or _judge_margins(cfg))(pairs)
    hard = {p.id for p, m in zip(pairs, margins) if m <= cfg.max_margin}
    return [u for u in regroup(pairs) if any(p.id in hard for p in u)]


def regroup(pairs: list[PreferencePair]) -> list[Unit]:
    """Pairs back into units: a swapped pair and its mirror (same two responses, prompts exchanged)."""
    units: dict[tuple, Unit] = {}
    for p in pairs:
        key = tuple(sorted((p.chosen, p.rejected))) if p.meta.get("bias") == "swapped" else (p.id,)
        units.setdefault(key, []).append(p)
    return list(units.values())


def _judge_margins(cfg: JudgeConfig) -> Callable[[list[PreferencePair]], list[float]]:
    def margins(pairs: list[PreferencePair]) -> list[float]:
        from rewardkit.models.scoring import RewardModel

        rm = RewardModel.load(cfg.model, dtype=cfg.dtype, seed=cfg.seed)
        return [c - r for c, r in rm.score_pairs(pairs, max_length=cfg.max_length)]

    return margins


class HardPairsStep:
    """The curation step (StepConfig.hard_pairs): every pair of the stream, then the constructed ones
    (ratio x the stream's pairs, built from it alone). `counts` holds for_split's counts per type."""

    name = "hard_pairs"

    def __init__(self, cfg: HardPairsConfig, embed: Embed | None = None):
        self.cfg, self.embed, self.counts = cfg, embed, None

    def __call__(self, pairs: Iterator[PreferencePair]) -> Iterator[PreferencePair]:
        pairs = list(pairs)
        out, _, self.counts = for_split(pairs, [], self.cfg, self.embed)
        yield from out


def check_no_constructed(pairs: list[PreferencePair], where: str) -> None:
    """Constructed pairs in data a hold-out is about to be drawn from are an error: they were built
    before the split, so a held-out prompt's text may sit in a training pair as a neighbour."""
    n = sum(p.source.startswith(SOURCE_PREFIX) for p in pairs)
    if n:
        raise ValueError(f"{where}: {n} pairs are constructed ({SOURCE_PREFIX}*), built before this hold-out, "
                         "which would leak held-out text into training; give val_data, or build them with "
                         "train.hard_pairs, after the hold-out")
