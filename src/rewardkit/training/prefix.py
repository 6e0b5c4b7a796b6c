"""The frozen-prefix cache: with `train_top_k_layers: k`, the embeddings and the lower L − k blocks never
change, so the hidden states entering block L − k are computed once per sequence and training, validation
and the LP probe's features run only the top k blocks from them.

Exact: a causal block's output at a token depends only on the tokens up to it, so a pair's states are
stored once in the prompt-sharing layout, [prompt + chosen response | rejected response] ([n, H],
n = |chosen| + |rejected| − |prompt|), and both batch layouts are cut from it: the packed row as it is
(`collate_shared`), or the chosen row (its first |chosen| states) and the rejected row (the prompt's
states, then its own) for `collate_concat`. Rotary positions come from the batch's position ids as before.

Stored in the dtype the blocks compute in (bf16 with bf16 weights), in one flat [tokens, H] tensor, memory-
mapped from out_dir/prefix_cache/ so the OS may page it out; removed when the run ends. A resumed run
recomputes it (it is a pure function of the frozen weights, which a checkpoint does not change).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from rewardkit.data.batching import pad_right, padded_width, plan_batches, to_device
from rewardkit.models.loading import arch_spec, decoder_layers, run_backbone, unwrap_peft
from rewardkit.models.tokenization import EncodedPair
from rewardkit.options import DEFAULT_BATCH_TOKENS
from rewardkit.probing.features import WIDTH_MULTIPLE
from rewardkit.training.forward import shared_prompt_len

CACHE_DIR = "prefix_cache"
"""Under the run's out_dir: one memory-mapped file per data set."""


def prefix_block(cfg, model, *, processes: int, bf16_weights: bool) -> tuple[int | None, str]:
    """(the first trained block s, or None: no cache; why, for the log). The cache is on only when the
    states entering block s are the same in every forward of the run; `prefix_cache: true` makes any
    reason against it an error."""
    why = _reason_against(cfg, model, processes, bf16_weights)
    if why is None:
        start = len(decoder_layers(model)) - cfg.train_top_k_layers
        return start, f"blocks 0..{start - 1} frozen: their output is computed once per sequence"
    if cfg.prefix_cache:
        raise ValueError(f"prefix_cache: true, but {why}")
    return None, why


def _reason_against(cfg, model, processes: int, bf16_weights: bool) -> str | None:
    if cfg.prefix_cache is False:
        return "prefix_cache: false"
    k = cfg.train_top_k_layers
    if k is None:
        return "every block trains (train_top_k_layers unset)"
    spec = arch_spec(model)
    if not (spec.causal and spec.readout == "last" and spec.blocks_take_embeds):
        return f"{model.config.model_type} blocks cannot start from cached states (ArchSpec.blocks_take_embeds)"
    n = len(decoder_layers(model))
    if not 1 <= k < n:
        return f"train_top_k_layers {k}: the cache needs 1..{n - 1} trained blocks"
    if cfg.lora is not None:
        return "LoRA adapters change the frozen blocks"
    if cfg.bf16 and not bf16_weights:
        return "bf16 autocast over fp32 weights (bf16_weights: false) computes the blocks differently"
    if processes > 1:
        return f"{processes} processes (the cache is built for one)"
    if _dropout_in(model, n - k):
        return "dropout in the frozen blocks makes their output random"
    return None


def _dropout_in(model, start: int) -> bool:
    """Any active dropout in the embeddings or blocks below `start` (modules or attention's own rate)."""
    model = unwrap_peft(model)
    frozen = [model.get_input_embeddings(), *list(decoder_layers(model))[:start]]
    for part in frozen:
        for m in part.modules():
            if isinstance(m, torch.nn.Dropout) and m.p > 0:
                return True
            if float(getattr(m, "attention_dropout", 0.0) or 0.0) > 0:
                return True
    return False


@dataclass
class PrefixStore:
    """The cached states of one data set: pair i's packed states are hidden[offsets[i]:offsets[i+1]]."""

    hidden: torch.Tensor
    """[tokens, H], flat over pairs."""
    offsets: list[int]
    chosen_len: list[int]
    rejected_len: list[int]
    prompt_len: list[int]
    path: Path | None = None

    @classmethod
    def allocate(cls, items: list[EncodedPair], hidden_size: int, dtype: torch.dtype, path: Path | None) -> PrefixStore:
        c = [len(e.chosen_ids) for e in items]
        r = [len(e.rejected_ids) for e in items]
        p = [shared_prompt_len(e) for e in items]
        offsets = [0]
        for a, b, q in zip(c, r, p):
            offsets.append(offsets[-1] + a + b - q)
        size = offsets[-1] * hidden_size
        if path is None:
            flat = torch.empty(size, dtype=dtype)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.unlink(missing_ok=True)
            flat = torch.from_file(str(path), shared=True, size=size, dtype=dtype)
        return cls(flat.view(offsets[-1], hidden_size), offsets, c, r, p, path)

    @property
    def nbytes(self) -> int:
        return self.hidden.numel() * self.hidden.element_size()

    def packed(self, i: int) -> torch.Tensor:
        return self.hidden[self.offsets[i]:self.offsets[i + 1]]

    def put_row(self, i: int, rejected: bool, states: torch.Tensor) -> None:
        """Row 2i (chosen) or 2i+1 (rejected) of `pair_rows`, states [len, H]: the chosen row fills the
        prompt and the chosen response, the rejected row its own response."""
        o, c, p = self.offsets[i], self.chosen_len[i], self.prompt_len[i]
        if rejected:
            self.hidden[o + c:self.offsets[i + 1]] = states[p:self.rejected_len[i]]
        else:
            self.hidden[o:o + c] = states[:c]

    def batch(self, idx: Sequence[int], shared: bool, multiple: int = 1) -> torch.Tensor:
        """The states of pairs `idx` in the layout and width of collate_shared (`shared`) or collate_concat:
        [B, T, H] or [2B, T, H], zeros at the padding."""
        lengths = ([self.offsets[i + 1] - self.offsets[i] for i in idx] if shared else
                   [self.chosen_len[i] for i in idx] + [self.rejected_len[i] for i in idx])
        width = padded_width(max(lengths), multiple)
        out = torch.zeros(len(lengths), width, self.hidden.shape[1], dtype=self.hidden.dtype)
        for j, i in enumerate(idx):  # slices of the store copied straight into place, once
            row, c, p = self.packed(i), self.chosen_len[i], self.prompt_len[i]
            if shared:
                out[j, :len(row)] = row
            else:  # chosen: prompt + chosen response; rejected: prompt + rejected response
                out[j, :c] = row[:c]
                out[len(idx) + j, :p] = row[:p]
                out[len(idx) + j, p:self.rejected_len[i]] = row[c:]
        return out

    def close(self) -> None:
        """Drop the mapping and its file."""
        self.hidden = self.hidden[:0]
        if self.path is not None:
            self.path.unlink(missing_ok=True)


class _Captured(Exception):
    """Stops a forward once the wanted block's input is captured: the blocks above it are not needed."""


def fill_prefix(model, store: PrefixStore, items: list[EncodedPair], start: int, pad_id: int, *, shared: bool,
                batch_tokens: int = DEFAULT_BATCH_TOKENS) -> float:
    """Run the embeddings and blocks 0..start-1 over every pair and store the states entering block `start`;
    longest first, under a padded-token budget. `shared`: each pair as one packed row with the prompt-sharing
    mask (collate_shared: the prompt computed once, what a prompt-sharing run computes; on the CPU recipe's
    data the packed rows hold 63% of the tokens of the separate sequences); else the chosen and rejected
    sequences as rows of their own, causal without a padding mask (what a concatenated run computes).
    Returns the seconds taken."""
    t0 = time.perf_counter()
    device = next(model.parameters()).device
    captured: list[torch.Tensor] = []

    def capture(module, args, kwargs):
        captured.append(args[0] if args else kwargs["hidden_states"])
        raise _Captured

    def states_entering(ids, mask=None, **kw) -> torch.Tensor:  # [B, T, H] on the host
        captured.clear()
        try:
            run_backbone(model, to_device(ids, device), None if mask is None else to_device(mask, device),
                         **{k: to_device(v, device) for k, v in kw.items()})
        except _Captured:
            pass
        return captured[0].to(store.hidden.dtype).cpu()

    hook = decoder_layers(unwrap_peft(model))[start].register_forward_pre_hook(capture, with_kwargs=True)
    try:
        with torch.inference_mode():
            if shared:
                _fill_packed(model, store, items, pad_id, batch_tokens, states_entering)
            else:
                rows = [ids for e in items for ids in (e.chosen_ids, e.rejected_ids)]
                for batch in plan_batches([len(r) for r in rows], batch_tokens):
                    states = states_entering(pad_right([rows[j] for j in batch], pad_id, multiple=WIDTH_MULTIPLE)[0])
                    for b, j in enumerate(batch):
                        store.put_row(j // 2, j % 2 == 1, states[b])
    finally:
        hook.remove()
    return time.perf_counter() - t0


def _fill_packed(model, store: PrefixStore, items, pad_id: int, batch_tokens: int, states_entering) -> None:
    from rewardkit.training.forward import check_prompt_sharing, collate_shared, mask_for_kernel, shared_mask

    check_prompt_sharing(model, max([*store.chosen_len, *store.rejected_len], default=0))  # the rows it packs
    dtype = next(model.parameters()).dtype
    for batch in plan_batches(np.diff(store.offsets).tolist(), batch_tokens):
        packed = collate_shared([items[i] for i in batch], pad_id, multiple=WIDTH_MULTIPLE)
        mask = mask_for_kernel(shared_mask(packed["segments"]), model.config._attn_implementation, dtype)
        states = states_entering(packed["input_ids"], mask, position_ids=packed["position_ids"])
        for b, i in enumerate(batch):
            store.hidden[store.offsets[i]:store.offsets[i + 1]] = states[b, :store.offsets[i + 1] - store.offsets[i]]


def describe(name: str, store: PrefixStore, seconds: float) -> dict:
    """What the log records of one filled store."""
    return {"set": name, "pairs": len(store.offsets) - 1, "tokens": store.offsets[-1],
            "mib": round(store.nbytes / 2**20, 1), "dtype": str(store.hidden.dtype).removeprefix("torch."),
            "file": None if store.path is None else str(store.path), "seconds": round(seconds, 1)}


def cached_features(model, data, start: int, shared: bool, pad_id: int, *, multiple: int = 1,
                    batch_tokens: int = DEFAULT_BATCH_TOKENS) -> np.ndarray:
    """[2N, H] float32 in `pair_rows` order: the final hidden state the score head reads for each chosen and
    rejected sequence of `data` (an EncodedSet with its `prefix` store filled), through the training
    forward's own code (`pair_ends`, the same layout) with only blocks start.. running, under
    inference_mode, pairs batched longest first within a padded-token budget."""
    from rewardkit.training.data import collate_concat
    from rewardkit.training.forward import collate_shared, pair_ends

    collate = collate_shared if shared else collate_concat
    store = data.prefix
    device = next(model.parameters()).device
    # the padded tokens a pair adds: its packed row, or two rows as wide as the longer one
    cost = [n if shared else 2 * max(c, r) for n, c, r in
            zip(np.diff(store.offsets), store.chosen_len, store.rejected_len)]
    out = np.zeros((2 * len(data.items), model.config.hidden_size), dtype=np.float32)
    with torch.inference_mode():
        for idx in plan_batches(cost, batch_tokens):
            batch = collate([data.items[i] for i in idx], pad_id, multiple=multiple)
            batch["hidden"] = store.batch(idx, shared, multiple)
            chosen, rejected = pair_ends(model, {k: to_device(v, device) for k, v in batch.items()}, start)
            rows = np.asarray(idx)
            out[2 * rows] = chosen.float().cpu().numpy()
            out[2 * rows + 1] = rejected.float().cpu().numpy()
    return out
