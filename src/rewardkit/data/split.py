"""Seeded hold-outs and samples of pairs: pure functions of (pairs, seed), shared by training, probes
and benchmarks, so a held-out set is the same whichever of them draws it."""

from __future__ import annotations

import json
import random
from collections.abc import Hashable, Sequence

from rewardkit.data.pairs import PreferencePair
from rewardkit.options import ValSplit


def held_out(keys: Sequence[Hashable], val_fraction: float, seed: int) -> list[int]:
    """Sorted indices of the held-out items: items sharing a key go together. The groups (in order of
    first appearance) are shuffled by `seed` and taken until round(val_fraction x n) items are held out.
    With one key per item this is a plain seeded sample of exactly that many items."""
    groups: dict[Hashable, list[int]] = {}
    for i, key in enumerate(keys):
        groups.setdefault(key, []).append(i)
    order = list(groups)
    random.Random(f"split-{seed}").shuffle(order)
    target, val = round(val_fraction * len(keys)), []
    for key in order:
        if len(val) >= target:
            break
        val.extend(groups[key])
    return sorted(val)


def prompt_key(pair: PreferencePair) -> str:
    """One string per distinct prompt (every turn): the unit `split_pairs(by="prompt")` holds out and held-out
    intervals resample, since pairs of one prompt share responses."""
    return json.dumps(pair.prompt, sort_keys=True)


def split_pairs(pairs: list[PreferencePair], val_fraction: float, seed: int, *,
                by: ValSplit = "pair") -> tuple[list, list]:
    """A seeded random hold-out: (train, val), val = round(val_fraction x n) pairs. by="prompt": whole
    prompts are held out (in seeded order, until the held-out pairs reach that count), so no held-out
    pair shares its prompt, or a response, with a training pair."""
    keys = range(len(pairs)) if by == "pair" else [prompt_key(p) for p in pairs]
    val = set(held_out(keys, val_fraction, seed))
    return [p for i, p in enumerate(pairs) if i not in val], [p for i, p in enumerate(pairs) if i in val]


def sample_pairs(pairs: list[PreferencePair], n: int | None, seed: int) -> list[PreferencePair]:
    """At most n pairs, a seeded sample in their original order."""
    if n is None or n >= len(pairs):
        return pairs
    keep = sorted(random.Random(f"sample-{seed}").sample(range(len(pairs)), n))
    return [pairs[i] for i in keep]
