"""A pool of prompts, each with its best and worst response, and its neighbours within a similarity band.

Pure: pairs and an embedding matrix in, entries and neighbour lists out (the embedder is
rewardkit.hardpairs.embed).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from rewardkit.data.pairs import Message, PreferencePair
from rewardkit.data.split import prompt_key


@dataclass(frozen=True)
class Entry:
    """One distinct prompt of the pool."""

    key: str
    """rewardkit.data.split.prompt_key: the unit held out and the unit a neighbour is drawn from."""
    prompt: list[Message]
    best: str
    """The response ranked highest among this prompt's pairs (most wins minus losses; first seen on ties)."""
    best_from: PreferencePair
    """The pair `best` was read from (its id and source_id are the constructed pair's provenance)."""
    worst: str
    """The response ranked lowest; equal to `best` when the prompt has no pair (never, from pairs)."""
    worst_from: PreferencePair

    @property
    def text(self) -> str:
        """What is embedded: the user turns, joined (the request and, in a dialogue, its topic)."""
        return user_text(self.prompt)


def user_text(prompt: list[Message]) -> str:
    return "\n".join(m["content"] for m in prompt if m["role"] == "user")


def normalized(text: str) -> str:
    """Lower case, runs of non-word characters to one space: two prompts equal under this are duplicates."""
    return re.sub(r"\W+", " ", text.lower()).strip()


def entries(pairs: list[PreferencePair]) -> list[Entry]:
    """One Entry per distinct prompt, in order of first appearance."""
    score: dict[str, dict[str, int]] = defaultdict(dict)
    where: dict[str, dict[str, PreferencePair]] = defaultdict(dict)
    first: dict[str, PreferencePair] = {}
    for p in pairs:
        key = prompt_key(p)
        first.setdefault(key, p)
        for text, delta in ((p.chosen, 1), (p.rejected, -1)):
            score[key][text] = score[key].get(text, 0) + delta
            where[key].setdefault(text, p)
    out = []
    for key, p in first.items():
        ranked = list(score[key])  # first-seen order; max/min keep the first of equals
        best = max(ranked, key=lambda t: score[key][t])
        worst = min(ranked, key=lambda t: score[key][t])
        out.append(Entry(key, p.prompt, best, where[key][best], worst, where[key][worst]))
    return out


def band_neighbours(entries_: list[Entry], embeddings: np.ndarray, band: tuple[float, float]) -> list[list[tuple[int, float]]]:
    """For each entry, the other entries whose prompt's cosine similarity lies in `band`, most similar
    first, as (index, similarity). Left out: duplicates of the prompt (user turns equal after
    `normalized`), the same dialogue at another depth (equal first user turn: HH-RLHF holds one dialogue
    cut after several turns, whose answers are each other's valid continuations) and entries whose best
    response equals this entry's (a response shared by two prompts is no negative).

    embeddings: [n, d], rows L2-normalised, row i for entries_[i]."""
    low, high = band
    sims = embeddings @ embeddings.T
    texts = [normalized(e.text) for e in entries_]
    firsts = [normalized(next((m["content"] for m in e.prompt if m["role"] == "user"), "")) for e in entries_]
    out = []
    for i, e in enumerate(entries_):
        inside = np.flatnonzero((sims[i] >= low) & (sims[i] <= high))
        inside = inside[np.argsort(-sims[i, inside], kind="stable")]
        out.append([(int(j), float(sims[i, j])) for j in inside
                    if j != i and texts[j] != texts[i] and firsts[j] != firsts[i] and entries_[j].best != e.best])
    return out
