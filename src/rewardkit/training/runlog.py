"""The run's record: train_log.jsonl (one JSON object per step, validation and event), TensorBoard
events in tb/, and a short progress line on the console. Only the main process writes.

On resume, records after the checkpoint's step are cut from the JSONL (rewritten atomically) and
TensorBoard purges them, so the log reads as one uninterrupted run.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from rewardkit.data.io import write_text_atomic

LOG_NAME = "train_log.jsonl"


class RunLog:
    def __init__(self, out_dir: Path, *, enabled: bool, resume_step: int | None = None):
        self.enabled = enabled
        self.path = Path(out_dir) / LOG_NAME
        if not enabled:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if resume_step is None:
            write_text_atomic(self.path, "")
        else:
            kept = [line for line in self._lines() if _step_of(line, self.path) <= resume_step]
            write_text_atomic(self.path, "".join(kept))
        self._file = open(self.path, "a", encoding="utf-8")
        from torch.utils.tensorboard import SummaryWriter

        self._tb = SummaryWriter(str(Path(out_dir) / "tb"), purge_step=resume_step)

    def _lines(self) -> list[str]:
        if not self.path.is_file():
            return []
        return [line for line in self.path.read_text(encoding="utf-8").splitlines(keepends=True) if line.strip()]

    def _write(self, record: dict) -> None:
        self._file.write(json.dumps({**record, "time": round(time.time(), 3)}) + "\n")
        self._file.flush()

    def event(self, kind: str, **fields) -> None:
        if self.enabled:
            self._write({"event": kind, **fields})

    def step(self, *, every: int, total: int, **record) -> None:
        if not self.enabled:
            return
        self._write({"event": "step", **record})
        for key in ("loss", "accuracy", "margin", "lr", "grad_norm", "tokens_per_s"):
            if record.get(key) is not None:
                self._tb.add_scalar(f"train/{key}", record[key], record["step"])
        if record["step"] % every == 0 or record["step"] == total:
            print(f"step {record['step']}/{total}  loss {record['loss']:.4f}  acc {record['accuracy']:.3f}  "
                  f"lr {record['lr']:.2e}  {record['tokens_per_s']:.0f} tok/s", flush=True)

    def eval(self, **record) -> None:
        if not self.enabled:
            return
        self._write({"event": "eval", **record})
        for key in ("loss", "accuracy", "margin"):
            self._tb.add_scalar(f"val/{key}", record[key], record["step"])
        print(f"  validation @ {record['step']}: loss {record['loss']:.4f}  accuracy {record['accuracy']:.4f}  "
              f"margin {record['margin']:.3f}{'  (best fine-tuned so far)' if record['best'] else ''}", flush=True)

    def close(self) -> None:
        if self.enabled:
            self._file.close()
            self._tb.close()


def _step_of(line: str, path: Path) -> float:
    """A record's step; a line cut short by the kill that ended the run sorts after every checkpoint,
    so resuming drops it instead of failing on it."""
    try:
        return json.loads(line).get("step", 0)
    except json.JSONDecodeError:
        if line.endswith("\n"):  # a complete line that is not JSON: the log was edited or corrupted
            raise ValueError(f"{path}: line {line[:60]!r} is not a JSON record") from None
        return float("inf")
