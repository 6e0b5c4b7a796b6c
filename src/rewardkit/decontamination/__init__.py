"""Decontamination against benchmark prompts: the RewardBench maintainers' n-gram rule (paper 4.3).

    from rewardkit.decontamination import build_index, Decontaminate
    index = build_index(ref_prompts, n=7)           # RefPrompt(id, subset, text) of the benchmark
    keep, reason = Decontaminate(index).keep(pair)  # a curation filter

`index.py` is the pure rule and index, `filter.py` the pair-level filter and Table 4, `run.py` the
I/O edge (`rewardkit decontaminate` and the pipeline stage).
"""

from rewardkit.decontamination.filter import FIELDS, Decontaminate, PairMatch, Table4, pair_texts
from rewardkit.decontamination.index import DEFAULT_N, NgramIndex, TextMatch, build_index, ngrams, tokenize

__all__ = [
    "DEFAULT_N", "FIELDS", "Decontaminate", "NgramIndex", "PairMatch", "Table4", "TextMatch",
    "build_index", "ngrams", "pair_texts", "tokenize",
]
