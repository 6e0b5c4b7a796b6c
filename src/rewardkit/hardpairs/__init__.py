"""Bias-targeted preference pairs built from the data at hand, without a generator model (LLMBar's
Neighbor construction, OffsetBias's bias types, RRM's swapped pairs): docs/hard-pairs.md.

- `config`: HardPairsConfig (types, ratio, band, judge) and the bias type names;
- `pool`: prompts with their best and worst responses, and their neighbours within a similarity band;
- `embed`: the MiniLM sentence embedding of prompts;
- `build`: the constructions, one pure function per bias type;
- `run`: `built` / `for_split`, which build them on each side of a training run's hold-out, and the curation step.
"""
