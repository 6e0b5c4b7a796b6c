"""Is an exported model servable beyond `rewardkit serve`? What vLLM's reward/classify task (and any plain
`AutoModelForSequenceClassification` user) reads from config.json; docs/serving.md shows the commands.

    from rewardkit.serving.export import vllm_config_problems
    vllm_config_problems(json.load(open("out/model/config.json")))   # [] when servable
"""

from __future__ import annotations

from typing import Any


def vllm_config_problems(config: dict[str, Any]) -> list[str]:
    """Why a saved config.json would not serve as a one-score reward model (empty list: it would)."""
    problems = []
    archs = config.get("architectures") or []
    if len(archs) != 1 or not archs[0].endswith("ForSequenceClassification"):
        # vLLM picks its model class from this name; a *ForCausalLM would be served as a generator
        problems.append(f"architectures is {archs}, not one *ForSequenceClassification class")
    labels = len(config.get("id2label") or {}) or config.get("num_labels", 2)  # transformers' default is 2
    if labels != 1:
        problems.append(f"{labels} labels (id2label), not 1: the reward is one number")
    pad, eos = config.get("pad_token_id"), config.get("eos_token_id")
    if pad is None:
        problems.append("no pad_token_id: batched scoring cannot pad")
    elif pad == eos or (isinstance(eos, list) and pad in eos):
        # HF's classifier reads the last non-pad token: a sequence ending in EOS is read one token early
        problems.append(f"pad_token_id {pad} equals eos_token_id: the last real token is ambiguous")
    return problems
