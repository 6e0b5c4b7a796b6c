"""Fast batched scoring: conversations in, one float each out, in input order.

    from rewardkit.models.scoring import RewardModel
    rm = RewardModel.load("smollm2", seed=0)
    scores = rm.score([[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]])
    pair_scores = rm.score_pairs(pairs)          # [(chosen, rejected), ...]; rm.truncated counts cut pairs

Speed comes from three things (benchmarks/scoring.py measures them): sequences sorted by length so a
batch pads little (unsorted batches wasted 37% on padding, docs/machine-notes.md, "Speed"), batches filled up to a
token budget counted *with* padding rather than a fixed batch size, and bf16 weights under
torch.inference_mode.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from rewardkit.data.batching import pad_right, padded_width, plan_batches
from rewardkit.data.conversation import check_conversations
from rewardkit.data.pairs import Message, PreferencePair
from rewardkit.models.loading import forward_scores, load_reward_model
from rewardkit.models.tokenization import encode_conversation, encode_pair
from rewardkit.options import DEFAULT_BATCH_TOKENS, DEFAULT_MODEL

BF16_BOUND = 0.25
"""What bf16 scoring promises against fp32 on the same weights: every score within this fraction of the
fp32 scores' root mean square, so no pair whose fp32 margin exceeds twice that changes order
(tests/test_modeling.py on SmolLM2; benchmarks/gpu.py on CUDA). Measured on CPU (2026-12-01): worst 0.035
with AMX, 0.038 with ONEDNN_MAX_CPU_ISA=AVX512_CORE_BF16, 0.031 with =AVX2 (AMX also moved one score 7%
between batch shapes). 0.25 leaves >6x room and still fails a bf16 path that reads the wrong token or
drops a layer (changes of the order of the scores)."""

PROGRESS_MIN = 256
"""With progress=None, a bar is shown from this many sequences on."""


class RewardModel:
    """A loaded reward model and its tokenizer, with scoring that batches by length."""

    def __init__(self, model, tokenizer):
        self.model, self.tokenizer = model, tokenizer
        self.truncated_flags: list[bool] = []
        """Per conversation (or pair) of the last score/score_pairs call: was it truncated?"""

    @property
    def truncated(self) -> int:
        """How many conversations (or pairs) the last score/score_pairs call truncated."""
        return sum(self.truncated_flags)

    @classmethod
    def load(cls, name_or_path=DEFAULT_MODEL, **load_kw) -> RewardModel:
        """`load_kw` go to `rewardkit.models.loading.load_reward_model` (dtype, attn_implementation, seed, device)."""
        return cls(*load_reward_model(name_or_path, **load_kw))

    @property
    def max_positions(self) -> int | None:
        return getattr(self.model.config, "max_position_embeddings", None)

    def _max_length(self, max_length: int | None) -> int | None:
        return max_length if max_length is not None else self.max_positions

    def score(
        self, conversations: Sequence[list[Message]], *, max_length: int | None = None,
        batch_tokens: int = DEFAULT_BATCH_TOKENS, pad_to_multiple: int = 1, progress: bool | None = None,
    ) -> list[float]:
        """One score per conversation, in input order. max_length defaults to the model's positions;
        longer conversations are cut per `rewardkit.models.tokenization` and counted in `self.truncated`.
        Each must follow `rewardkit.data.conversation` (raises InvalidConversation naming the index)."""
        check_conversations(conversations)
        encoded = [encode_conversation(self.tokenizer, c, max_length=self._max_length(max_length)) for c in conversations]
        self.truncated_flags = [e.truncated for e in encoded]
        return self.score_ids([e.ids for e in encoded], batch_tokens=batch_tokens, pad_to_multiple=pad_to_multiple,
                              progress=progress)

    def score_pairs(
        self, pairs: Sequence[PreferencePair], *, max_length: int | None = None,
        batch_tokens: int = DEFAULT_BATCH_TOKENS, pad_to_multiple: int = 1, progress: bool | None = None,
    ) -> list[tuple[float, float]]:
        """(chosen, rejected) scores per pair. Long pairs are cut identically in the prompt (never dropped:
        an evaluation must score every example) and counted in `self.truncated`."""
        encoded = [encode_pair(self.tokenizer, p, max_length=self._max_length(max_length)) for p in pairs]
        self.truncated_flags = [e.truncated for e in encoded]
        rows = [ids for e in encoded for ids in (e.chosen_ids, e.rejected_ids)]
        flat = self.score_ids(rows, batch_tokens=batch_tokens, pad_to_multiple=pad_to_multiple, progress=progress)
        return list(zip(flat[0::2], flat[1::2]))

    def score_ids(
        self, rows: Sequence[Sequence[int]], *, batch_tokens: int = DEFAULT_BATCH_TOKENS, pad_to_multiple: int = 1,
        progress: bool | None = None, plan: Callable[[Sequence[int], int], list[list[int]]] = plan_batches,
    ) -> list[float]:
        """Scores of already-tokenized sequences, in input order. `plan(lengths, batch_tokens)` groups them
        into forward passes (the server passes `plan_min_padding`); each pass is padded to a multiple of
        `pad_to_multiple` (ScoringOptions.pad_to_multiple)."""
        scores = [0.0] * len(rows)
        # planned on the padded widths: the budget holds for them, and rows of one width are never split apart
        batches = plan([padded_width(len(r), pad_to_multiple) for r in rows], batch_tokens)
        show = len(rows) >= PROGRESS_MIN if progress is None else progress
        bar = None
        if show:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(rows), desc="scoring", unit="seq")
        pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        outs = []  # kept on the model's device: one transfer at the end, so a GPU never waits for the host
        with torch.inference_mode():
            for batch in batches:
                ids, mask = pad_right([rows[i] for i in batch], pad_id, multiple=pad_to_multiple)
                outs.append(forward_scores(self.model, ids, mask))
                if bar is not None:
                    bar.update(len(batch))
            flat = torch.cat(outs).tolist() if outs else []
        if bar is not None:
            bar.close()
        for i, s in zip((i for batch in batches for i in batch), flat):
            scores[i] = s
        return scores


def map_distributed(items: Sequence, fn, accelerator) -> list:
    """`fn(shard) -> one result per item` run on each process's shard of `items`; every rank gets all
    results, in input order. With a single process this is just `fn(items)`."""
    from accelerate.utils import gather_object

    indexed = list(enumerate(items))
    with accelerator.split_between_processes(indexed) as shard:
        local = list(zip((i for i, _ in shard), fn([x for _, x in shard])))
    merged = dict(gather_object(local)) if accelerator.num_processes > 1 else dict(local)
    return [merged[i] for i in range(len(items))]


def score_distributed(rm: RewardModel, conversations: Sequence[list[Message]], accelerator=None, **score_kw) -> list[float]:
    """Score on every process of an accelerate run (one shard each) and return all scores, in input order,
    on every rank. With a single process this is just `rm.score`."""
    from accelerate import Accelerator

    accelerator = accelerator or Accelerator()
    rm.model.to(accelerator.device)
    return map_distributed(conversations, lambda shard: rm.score(shard, **score_kw), accelerator)
