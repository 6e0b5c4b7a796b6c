"""The pairs the training benchmarks train on (benchmarks/training.py, benchmarks/training_profile.py):
a seeded sample of the HH-RLHF test pairs at their real lengths that fit MAX_LENGTH.

Run from the repository root, with ../shared beside it (the data lives there, not in rewardkit).
"""

from __future__ import annotations

import random
from pathlib import Path

from rewardkit.data.sources import read_pairs
from rewardkit.options import DEFAULT_MODEL

REPO = Path(__file__).resolve().parents[1]
HH = REPO.parent / "shared" / "data" / "hh-rlhf-test"
MAX_LENGTH = 1024


def sample_pairs(n: int, seed: int = 0):
    """n seeded HH-RLHF pairs (all four test splits) whose conversations both fit MAX_LENGTH."""
    from rewardkit.models.loading import load_reward_model  # deferred: torch (a worker sets its threads first)
    from rewardkit.models.tokenization import encode_pair

    _, tok = load_reward_model(DEFAULT_MODEL, dtype="float32")
    pool = []
    for split in sorted(p.name for p in HH.iterdir() if p.is_dir()):
        pool += read_pairs(f"hh_rlhf:{HH / split}", on_bad_row="skip")[0]
    random.Random(seed).shuffle(pool)
    out = []
    for pair in pool:
        enc = encode_pair(tok, pair, max_length=MAX_LENGTH, on_long="drop")
        if enc is not None:
            out.append(pair)
        if len(out) == n:
            return out
    raise ValueError(f"only {len(out)} pairs fit {MAX_LENGTH} tokens")
