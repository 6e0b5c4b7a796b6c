"""Curation steps for refusal pairs (WildGuardMix, paper section 3.2.2). The pairing rule itself lives
with the readers, in `rewardkit.data.sources.refusal`."""

from __future__ import annotations

from rewardkit.data.pairs import PreferencePair


class AdversarialOnly:
    """Keep pairs whose prompt is adversarial (paper 3.2.2, first stage: the RM already favoured the
    preferred response on non-adversarial WildGuardMix pairs, so those add little)."""

    name = "adversarial_only"

    def keep(self, pair: PreferencePair) -> tuple[bool, str]:
        adversarial = pair.meta.get("adversarial")
        if adversarial is None:
            return False, "no adversarial label"
        return (True, "") if adversarial else (False, "not adversarial")
