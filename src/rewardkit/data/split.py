"""Seeded hold-outs and samples of pairs: pure functions of (pairs, seed), shared by training, probes
and benchmarks, so a held-out set is the same whichever of them draws it."""

from __future__ import annotations

import json
import random

from rewardkit.data.pairs import PreferencePair


def split_pairs(pairs: list[PreferencePair], val_fraction: float, seed: int, *,
                by: str = "pair") -> tuple[list, list]:
    """A seeded random hold-out: (train, val), val = round(val_fraction x n) pairs. by="prompt": whole
    prompts are held out (in seeded order, until the held-out pairs reach that count), so no held-out
    pair shares its prompt, or a response, with a training pair."""
    if by == "prompt":
        return _split_by_prompt(pairs, val_fraction, seed)
    order = list(range(len(pairs)))
    random.Random(f"split-{seed}").shuffle(order)
    n_val = round(val_fraction * len(pairs))
    val = sorted(order[:n_val])
    train = sorted(order[n_val:])
    return [pairs[i] for i in train], [pairs[i] for i in val]


def _split_by_prompt(pairs: list[PreferencePair], val_fraction: float, seed: int) -> tuple[list, list]:
    groups: dict[str, list[int]] = {}
    for i, p in enumerate(pairs):
        groups.setdefault(json.dumps(p.prompt, sort_keys=True), []).append(i)
    keys = list(groups)
    random.Random(f"split-{seed}").shuffle(keys)
    target, val = round(val_fraction * len(pairs)), set()
    for key in keys:
        if len(val) >= target:
            break
        val.update(groups[key])
    return [p for i, p in enumerate(pairs) if i not in val], [p for i, p in enumerate(pairs) if i in val]


def sample_pairs(pairs: list[PreferencePair], n: int | None, seed: int) -> list[PreferencePair]:
    """At most n pairs, a seeded sample in their original order."""
    if n is None or n >= len(pairs):
        return pairs
    keep = sorted(random.Random(f"sample-{seed}").sample(range(len(pairs)), n))
    return [pairs[i] for i in keep]
