"""`rewardkit train R.yaml resume=true`: which recipe changes a resumed run may take.

A resume continues the run in out_dir from its latest checkpoint; the recipe it was started with is
out_dir/recipe.yaml. Every recipe key alters the run (its data, model, loss, optimizer or schedule), and
a change to one is refused with each changed key named, except the keys below: they change how the run
is watched, saved or computed, or how long it goes on, not what it trains towards. The data is also
compared by content: the pair ids the specs read now against the fingerprint in the run's start event.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from rewardkit.errors import UserError
from rewardkit.training.runlog import LOG_NAME

MAY_CHANGE = {
    "out_dir": "where the run is (the run dir itself)",
    "resume": "this switch",
    "log_every": "printing",
    "eval_every": "validation cadence (the weights do not depend on it)",
    "eval_batch_size": "validation batching",
    "save_every": "checkpoint cadence",
    "keep_checkpoints": "checkpoint pruning",
    "early_stopping_patience": "when to stop; the steps taken are the same",
    "micro_batch_size": "memory: the global batch and its gradient stay the same",
    "gradient_checkpointing": "memory: the same gradients, recomputed",
    "compile": "speed: the same blocks, compiled",
    "optimizer_impl": "speed: the same AdamW update rule",
    "pad_to_multiple": "speed: padding is masked",
    "prompt_sharing": "speed: the same rewards",
    "attn_implementation": "speed: the same attention",
}
"""Recipe keys a resumed run may change, each with why it does not alter the run."""

MAY_GROW = {"max_steps": "train longer (the schedule is stretched to the new end)",
            "epochs": "train longer (the schedule is stretched to the new end)"}
"""Recipe keys a resumed run may raise, not lower (None for max_steps: no limit)."""

RECIPE = "recipe.yaml"


def saved_recipe(out_dir: Path) -> dict[str, Any]:
    """The recipe a run in out_dir was started with (written by training.setup)."""
    path = Path(out_dir) / RECIPE
    if not path.is_file():
        raise UserError(f"{out_dir}: no {RECIPE}: not a training run directory, nothing to resume")
    try:
        saved = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as e:
        raise UserError(f"{path}: cannot read the run's recipe ({type(e).__name__})") from None
    if not isinstance(saved, dict):
        raise UserError(f"{path}: not a recipe (a mapping of keys)")
    return saved


def changed_keys(saved: dict[str, Any], cfg: BaseModel) -> list[str]:
    """'key: old -> new' for every key whose change would alter the run (MAY_CHANGE, MAY_GROW)."""
    new = cfg.model_dump(mode="json")
    fields = type(cfg).model_fields
    changes = []
    for key, value in new.items():
        old = saved.get(key, _default(fields[key]))
        if key in MAY_CHANGE or old == value or (key in MAY_GROW and _grows(old, value)):
            continue
        changes.append(f"{key}: {_show(old)} -> {_show(value)}")
    return changes


def check_resume(cfg: BaseModel, out_dir: Path) -> None:
    """Refuse a resume whose recipe alters the run saved in out_dir, naming every changed key."""
    changes = changed_keys(saved_recipe(out_dir), cfg)
    if changes:
        allowed = ", ".join([*(k for k in MAY_CHANGE if k not in ("out_dir", "resume")),
                             *(f"{k} (up)" for k in MAY_GROW)])
        raise UserError(f"{out_dir}: resume with a recipe that alters the run: {'; '.join(changes)} (a resume "
                        f"may change only {allowed}; start a new run in another out_dir instead)")


def data_fingerprint(train_ids: list[str], val_ids: list[str]) -> str:
    """sha256 of the training and held-out pair ids (content hashes) in order: the pairs a run trains on."""
    h = hashlib.sha256()
    for ids in (train_ids, val_ids):
        h.update("\n".join(ids).encode())
        h.update(b"|")
    return h.hexdigest()


def check_same_data(out_dir: Path, fingerprint: str, pairs: dict[str, int]) -> None:
    """Refuse a resume whose specs now read other pairs (a file changed under the same name): the run's
    `start` event in train_log.jsonl holds the fingerprint it trained on."""
    start = _start_event(Path(out_dir) / LOG_NAME)
    if start is None or "data_fingerprint" not in start:  # a log written before fingerprints: nothing to compare
        return
    if start["data_fingerprint"] != fingerprint:
        was = f"{start.get('train_pairs', {}).get('kept')} train / {start.get('val_pairs', {}).get('kept')} held-out"
        raise UserError(f"{out_dir}: resume reads other pairs than the run trained on ({pairs['train']} train / "
                        f"{pairs['val']} held-out now, {was} then; the data files changed under the same specs); "
                        "start a new run in another out_dir instead")


def _start_event(log: Path) -> dict | None:
    try:
        for line in log.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            if isinstance(record, dict) and record.get("event") == "start":
                return record
    except (OSError, ValueError):
        return None
    return None


def _default(field) -> Any:
    value = field.get_default(call_default_factory=True)
    return value.model_dump(mode="json") if isinstance(value, BaseModel) else value


def _grows(old, new) -> bool:
    if new is None:
        return True
    return old is not None and new >= old


def _show(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
