"""Decontamination as a curation step: rewardkit.decontamination's filter, run batched over the pool.

The filter (`Decontaminate.keep`) is per pair; `check` on a batch is much faster (one regex call and one
vectorized lookup for many texts), so curation runs it as a Select in chunks with the same reasons.
"""

from __future__ import annotations

from collections.abc import Iterator

from rewardkit.curation.config import DecontaminateConfig
from rewardkit.data.pairs import PreferencePair


class BatchedDecontaminate:
    def __init__(self, filt, chunk: int = 4096):
        self.filt, self.chunk = filt, chunk
        self.name = filt.name

    def decide(self, pairs: list[PreferencePair]) -> Iterator[tuple[PreferencePair, bool, str | None]]:
        for pair, match in self.filt.scan(pairs, self.chunk):
            yield pair, match is None, None if match is None else self.filt.reason(match)


def decontaminate_step(cfg: DecontaminateConfig, on_bad_row: str = "error") -> BatchedDecontaminate:
    from rewardkit.decontamination.run import filter_from_specs

    return BatchedDecontaminate(filter_from_specs(cfg.benchmark, cfg.n, cfg.fields, on_bad_row))
