"""Sentence embeddings of prompts with the shipped MiniLM (all-MiniLM-L6-v2): mean-pooled over the
tokens and L2-normalised, as sentence-transformers pools it (the package's 1_Pooling/config.json).

A few thousand short prompts take seconds on two cores; fp32 and no dropout, so the same texts give
the same vectors in every run.
"""

from __future__ import annotations

import numpy as np

BATCH = 64
MAX_TOKENS = 128
"""MiniLM was trained on 128-token inputs; longer prompts are cut from the right (a dialogue keeps its
first requests, which carry its topic)."""


def embed(texts: list[str], model: str = "minilm") -> np.ndarray:
    """[len(texts), d] float32, each row of norm 1 (cosine similarity = dot product)."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    from rewardkit.models.loading import resolve

    path = resolve(model)
    tokenizer = AutoTokenizer.from_pretrained(path)
    encoder = AutoModel.from_pretrained(path, dtype=torch.float32).eval()
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # similar lengths batch with little padding
    rows = []
    with torch.no_grad():
        for s in range(0, len(texts), BATCH):
            batch = tokenizer([texts[i] for i in order[s:s + BATCH]], padding=True, truncation=True,
                              max_length=MAX_TOKENS, return_tensors="pt")
            hidden = encoder(**batch).last_hidden_state  # [B, T, d]
            mask = batch["attention_mask"].unsqueeze(-1).float()  # [B, T, 1]
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
            rows.append(torch.nn.functional.normalize(pooled, dim=-1).numpy())
    if not rows:
        return np.zeros((0, 0), dtype=np.float32)
    out = np.empty((len(texts), rows[0].shape[1]), dtype=np.float32)
    out[order] = np.concatenate(rows)
    return out
