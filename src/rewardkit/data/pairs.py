"""The record every stage speaks: one preference pair.

A pair is a prompt (a list of chat messages, possibly multi-turn, possibly with a system turn) and two
final assistant responses, the chosen and the rejected one, plus where it came from. Readers produce
pairs, curation and decontamination filter them, training and evaluation consume them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

Message = dict[str, str]  # {"role": "system" | "user" | "assistant", "content": str}


class IdMismatch(ValueError):
    """A stored pair whose `id` is not the content hash of its prompt and responses (edited or corrupted)."""


@dataclass(slots=True)
class PreferencePair:
    prompt: list[Message]
    """Every turn before the rated response; the last message is normally a user turn."""
    chosen: str
    """The preferred final assistant response."""
    rejected: str
    """The dispreferred final assistant response."""
    source: str
    """The dataset id the pair came from, e.g. "nvidia/HelpSteer2" (the hub id even when read locally)."""
    source_config: str = "default"
    source_split: str = "train"
    source_id: str = ""
    """The dataset's own id for the row, or its row number when it has none."""
    meta: dict[str, Any] = field(default_factory=dict)
    """Scores, category, labels carried over from the source (JSON-serialisable values only)."""

    @property
    def id(self) -> str:
        """A stable content hash: equal for equal (prompt, chosen, rejected), whatever the source."""
        return content_id(self.prompt, self.chosen, self.rejected)

    @property
    def first_user_turn(self) -> str:
        return next((m["content"] for m in self.prompt if m["role"] == "user"), "")

    def chosen_conversation(self) -> list[Message]:
        return [*self.prompt, {"role": "assistant", "content": self.chosen}]

    def rejected_conversation(self) -> list[Message]:
        return [*self.prompt, {"role": "assistant", "content": self.rejected}]

    # --- serialisation ---------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Flat, Arrow-friendly row. `meta` is a JSON string so heterogeneous metadata round-trips exactly
        through parquet (Arrow would otherwise unify or reject differing types across rows)."""
        return {
            "id": self.id,
            "prompt": [{"role": m["role"], "content": m["content"]} for m in self.prompt],
            "chosen": self.chosen,
            "rejected": self.rejected,
            "source": self.source,
            "source_config": self.source_config,
            "source_split": self.source_split,
            "source_id": self.source_id,
            "meta": json.dumps(self.meta, sort_keys=True, ensure_ascii=False),
        }

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> PreferencePair:
        meta = row.get("meta") or "{}"
        pair = cls(
            prompt=[{"role": m["role"], "content": m["content"]} for m in row["prompt"]],
            chosen=row["chosen"],
            rejected=row["rejected"],
            source=row["source"],
            source_config=row.get("source_config") or "default",
            source_split=row.get("source_split") or "train",
            source_id=str(row.get("source_id") or ""),
            meta=json.loads(meta) if isinstance(meta, str) else dict(meta),
        )
        if "id" in row and row["id"] and row["id"] != pair.id:
            raise IdMismatch(f"stored id {row['id']!r} does not match the pair's content hash {pair.id!r}")
        return pair

    def to_trl(self) -> dict[str, Any]:
        """TRL's conversational preference format (RewardTrainer / DPOTrainer)."""
        return {
            "chosen": self.chosen_conversation(),
            "rejected": self.rejected_conversation(),
        }

    def to_skywork(self) -> dict[str, Any]:
        """The Skywork-Reward-Preference-80K format: full conversations plus `source`."""
        return {**self.to_trl(), "source": self.source}


def content_id(prompt: list[Message], chosen: str, rejected: str) -> str:
    payload = json.dumps([[(m["role"], m["content"]) for m in prompt], chosen, rejected], ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class RefPrompt:
    """A benchmark prompt, as decontamination references it."""

    id: str
    subset: str
    text: str
