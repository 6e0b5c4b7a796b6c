"""Pairs -> token ids -> length-grouped global batches with an exact, resumable position.

The batch order of an epoch is a pure function of (seed, epoch), so the data position of a run is two
integers (epoch, batch index) and resuming replays exactly the batches an uninterrupted run would see.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

import torch

from rewardkit.data.pairs import PreferencePair
from rewardkit.data.batching import pad_right
from rewardkit.models.tokenization import EncodedPair, encode_pair

MEGA_BATCH = 50
"""Length grouping sorts windows of MEGA_BATCH global batches (HF's LengthGroupedSampler uses 50):
wide enough that batches hold similar lengths, narrow enough that which pairs meet stays random."""


@dataclass
class EncodeCounts:
    """What encoding did to the pairs; written to the training log, so no pair is lost unseen."""

    pairs: int = 0
    kept: int = 0
    truncated: int = 0
    """Kept but cut to max_length (prompt cut from the left; see rewardkit.models.tokenization)."""
    dropped: int = 0
    """Left out because too long (on_long="drop")."""

    def as_dict(self) -> dict[str, int]:
        return {"pairs": self.pairs, "kept": self.kept, "truncated": self.truncated, "dropped": self.dropped}


@dataclass
class EncodedSet:
    items: list[EncodedPair] = field(default_factory=list)
    counts: EncodeCounts = field(default_factory=EncodeCounts)
    margins: list[float] | None = None
    """Per-pair loss margins, parallel to items, when the run reads them from pair meta."""
    pairs: list[PreferencePair] = field(default_factory=list)
    """The kept pairs themselves, parallel to items (sources and responses for the held-out report)."""
    prefix: Any = None
    """The frozen-prefix cache of these pairs (rewardkit.training.prefix.PrefixStore), or None."""

    def lengths(self) -> list[int]:
        """Tokens of each pair as two separate sequences: the work a batch represents."""
        return [len(e.chosen_ids) + len(e.rejected_ids) for e in self.items]


def encode_pairs(pairs: list[PreferencePair], tokenizer, *, max_length: int, on_long: str,
                 margin_field: str | None = None) -> EncodedSet:
    out = EncodedSet(margins=[] if margin_field else None)
    for pair in pairs:
        out.counts.pairs += 1
        margin = pair_margin(pair, margin_field) if margin_field else None
        enc = encode_pair(tokenizer, pair, max_length=max_length, on_long=on_long)
        if enc is None:
            out.counts.dropped += 1
            continue
        out.counts.kept += 1
        out.counts.truncated += int(enc.truncated)
        out.items.append(enc)
        out.pairs.append(pair)
        if out.margins is not None:
            out.margins.append(margin)
    return out


def pair_margin(pair: PreferencePair, field_name: str) -> float:
    value = pair.meta.get(field_name)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"pair {pair.id} ({pair.source} row {pair.source_id}): meta[{field_name!r}] must be a "
                         f"number to use as the loss margin, got {value!r}")
    return float(value)


def epoch_batches(lengths: list[int], global_batch: int, *, seed: int, epoch: int,
                  grouped: bool = True) -> list[list[int]]:
    """The global batches (lists of pair indices) of one epoch, in training order.

    Shuffle all pairs; with `grouped`, sort each window of MEGA_BATCH x global_batch pairs by length,
    cut it into batches and shuffle the batch order, so each batch holds similar lengths (little
    padding) while the sequence of batches stays random. The last partial batch (fewer than
    global_batch pairs) is left out of this epoch, so every step has the same global batch; the next
    epoch's shuffle gives those pairs their turn. Inside a batch, pairs are sorted longest first, so
    the micro-batches cut from it (see `micro_batches`) are also similar in length.
    """
    rng = random.Random(f"batches-{seed}-{epoch}")
    order = list(range(len(lengths)))
    rng.shuffle(order)
    if grouped:
        window = global_batch * MEGA_BATCH
        order = [i for s in range(0, len(order), window)
                 for i in sorted(order[s:s + window], key=lambda i: -lengths[i])]
    batches = [order[s:s + global_batch] for s in range(0, len(order) - global_batch + 1, global_batch)]
    if grouped:
        rng.shuffle(batches)
    return [sorted(b, key=lambda i: -lengths[i]) for b in batches]


def micro_batches(batch: list[int], micro: int, world_size: int, rank: int) -> list[list[int]]:
    """This process's micro-batches of one global batch: consecutive chunks of `micro` pairs, chunk k
    going to rank k % world_size. Every rank gets the same number (global = micro x accumulation x
    world), so all ranks step together."""
    chunks = [batch[s:s + micro] for s in range(0, len(batch), micro)]
    return chunks[rank::world_size]


def collate_concat(items: list[EncodedPair], pad_id: int, multiple: int = 1) -> dict[str, torch.Tensor]:
    """Chosen and rejected of B pairs as ONE batch of 2B rows: rows 0..B-1 chosen, B..2B-1 rejected
    (width rounded up to `multiple`: TrainConfig.pad_to_multiple)."""
    ids, mask = pad_right([e.chosen_ids for e in items] + [e.rejected_ids for e in items], pad_id, multiple=multiple)
    return {"input_ids": ids, "attention_mask": mask}
