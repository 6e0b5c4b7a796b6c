"""Token-id rows -> padded tensors and length-sorted batches: shared by training, scoring and features.

Data-side helpers (no model): training must not import the inference module for its padding.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def plan_batches(lengths: Sequence[int], batch_tokens: int) -> list[list[int]]:
    """Indices grouped into batches whose padded size (rows x longest row) stays within `batch_tokens`.

    Longest first, so the largest batch (the memory peak) comes at once rather than after an hour; a
    sequence longer than the budget gets a batch of its own.
    """
    if batch_tokens <= 0:
        raise ValueError(f"batch_tokens must be positive, got {batch_tokens}")
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batches: list[list[int]] = []
    for i in order:
        if batches and (len(batches[-1]) + 1) * lengths[batches[-1][0]] <= batch_tokens:
            batches[-1].append(i)
        else:
            batches.append([i])
    return batches


def padded_width(length: int, multiple: int) -> int:
    """`length` rounded up to a multiple of `multiple`."""
    return -(-length // multiple) * multiple


def pad_right(rows: Sequence[Sequence[int]], pad_id: int, *, multiple: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """[B, T] input ids and attention mask for rows of token ids; T is the longest row rounded up to
    `multiple` (on AMX CPUs oneDNN builds a kernel per new shape: fewer widths, fewer slow first calls)."""
    width = padded_width(max(len(r) for r in rows), multiple)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.as_tensor(r, dtype=torch.long)
        mask[i, : len(r)] = 1
    return ids, mask


def to_device(t: torch.Tensor, device: torch.device | str) -> torch.Tensor:
    """A host batch on `device`. To a GPU through pinned memory without blocking: a copy from pageable
    memory makes the host wait until the GPU has finished all the work queued before it, so the next
    batch's padding and kernel launches could not overlap the current batch's compute."""
    device = torch.device(device)
    if device.type == "cuda" and t.device.type == "cpu":
        return t.pin_memory().to(device, non_blocking=True)
    return t.to(device)


def plan_min_padding(lengths: Sequence[int], batch_tokens: int, overhead_tokens: int) -> list[list[int]]:
    """Indices grouped into batches (each within `batch_tokens` padded, as in `plan_batches`) that minimise
    padded tokens + `overhead_tokens` per forward pass: a set of mixed lengths, e.g. what a server
    collects from many clients at once, is split where the padding saved is worth one more pass.

    Dynamic programming over the lengths sorted longest first, where any batch is a contiguous run whose
    longest row is its first: best[j] = min over i of best[i] + (j - i) x longest[i] + overhead.
    """
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    ls = [lengths[i] for i in order]
    best, start = [0] + [float("inf")] * len(ls), [0] * (len(ls) + 1)
    for j in range(1, len(ls) + 1):
        for i in range(j - 1, -1, -1):  # the last batch is ls[i:j]; it only grows more costly as i falls
            if j - i > 1 and (j - i) * ls[i] > batch_tokens:
                break
            cost = best[i] + (j - i) * ls[i] + overhead_tokens
            if cost < best[j]:
                best[j], start[j] = cost, i
    batches, j = [], len(ls)
    while j > 0:
        batches.append(order[start[j] : j])
        j = start[j]
    return batches[::-1]
