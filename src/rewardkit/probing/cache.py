"""`rewardkit features --model M --data SPEC... --out DIR`: the feature cache (I/O edge).

    rewardkit features --model smollm2 --data helpsteer2:HelpSteer.jsonl --out runs/features/helpsteer

DIR holds, for N pairs: last.npy and mean.npy [N, 2, H] float32 (axis 1: chosen, rejected; see
rewardkit.probing.features), layerK.npy when asked, tokens.npy [N, 2], pairs.jsonl (id, source, spec,
response characters, truncated) and manifest.json. The manifest's key hashes the model's weights and
config, every encoded token id (so the data, the chat template, max_length and truncation all count)
and the extraction settings: a cache whose key differs is rebuilt, never reused. The directory is
written beside DIR and renamed into place, so a killed run leaves no complete-looking cache.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydantic import Field

from rewardkit.data.io import atomic_dir
from rewardkit.data.pairs import content_id
from rewardkit.errors import OWNED_MARKER, UserError, check_output_dir, check_replaceable_dir, mark_owned
from rewardkit.options import DEFAULT_BATCH_TOKENS, DEFAULT_DTYPE, DEFAULT_MODEL, ReadOptions, ScoringDtype
from rewardkit.data.sources import read_pairs
from rewardkit.data.sources.base import fresh_quarantine
from rewardkit.data.split import sample_pairs
from rewardkit.models.tokenization import encode_pair

FORMAT = 1
MANIFEST = "manifest.json"


class FeaturesConfig(ReadOptions):
    model: str = DEFAULT_MODEL
    """Backbone: alias, HF dir/id or .gguf (rewardkit.models.loading.load_reward_model)."""
    data: list[str] = []
    """Pair datasets as spec strings; pairs keep their order, spec after spec."""
    max_length: int = Field(1024, ge=8)
    """Token budget of each conversation; longer pairs are cut in the prompt (rewardkit.models.tokenization)."""
    dtype: ScoringDtype = DEFAULT_DTYPE
    """Weights dtype of the inference pass (bf16: ~3x faster here; pair orderings agree with fp32)."""
    batch_tokens: int = Field(DEFAULT_BATCH_TOKENS, ge=1)
    """Padded tokens per forward pass."""
    layers: list[int] = []
    """Also store the last-token state after these decoder layers (hidden_states index; experiment-only)."""
    max_pairs_per_spec: int | None = Field(None, ge=1)
    """Keep a seeded sample of at most this many pairs of each spec (seed 0), in their original order."""


@dataclass
class FeatureSet:
    """A loaded cache: memory-mapped arrays plus per-pair records."""

    dir: Path
    manifest: dict
    pairs: list[dict]

    def array(self, name: str) -> np.ndarray:
        """[N, 2, ...] memory-mapped (axis 1: chosen, rejected)."""
        return np.load(self.dir / f"{name}.npy", mmap_mode="r")


def model_fingerprint(model) -> str:
    """sha256 of the config and every parameter's bytes (~1 s for SmolLM2): a changed weight is a new model."""
    h = hashlib.sha256(model.config.to_json_string(use_diff=False).encode())
    for name, p in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(p.detach().float().contiguous().cpu().numpy().tobytes())
    return h.hexdigest()


def cache_key(fingerprint: str, rows: list[list[int]], cfg: FeaturesConfig) -> str:
    h = hashlib.sha256(json.dumps({"format": FORMAT, "model": fingerprint, "dtype": cfg.dtype,
                                   "layers": cfg.layers}).encode())
    for r in rows:
        h.update(np.asarray(r, dtype=np.int64).tobytes())
        h.update(b"|")
    return h.hexdigest()


def check_layers(layers: list[int], num_layers: int, model: str) -> None:
    """`layers` index hidden_states: 0 (the embeddings) to num_layers (the last decoder layer)."""
    bad = [k for k in layers if not 0 <= k <= num_layers]
    if bad:
        raise UserError(f"--layers {' '.join(map(str, bad))}: {model} has {num_layers} decoder layers; "
                        f"give layers 0 to {num_layers}")


def _is_cache(dir: Path) -> bool:
    """A feature cache rewardkit wrote: its manifest names this format."""
    try:
        return json.loads((dir / MANIFEST).read_text()).get("format") == FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def load_cache(dir: str | Path) -> FeatureSet:
    dir = Path(dir)
    if not (dir / MANIFEST).is_file():
        raise FileNotFoundError(f"{dir}: no feature cache here (no {MANIFEST}; build it with `rewardkit features`)")
    manifest = json.loads((dir / MANIFEST).read_text())
    pairs = [json.loads(line) for line in (dir / "pairs.jsonl").read_text().splitlines()]
    return FeatureSet(dir, manifest, pairs)


def _read(cfg: FeaturesConfig, quarantine: Path) -> list[tuple[str, object]]:
    if not cfg.data:
        raise ValueError("features: no data (give one or more --data SPEC)")

    fresh_quarantine(quarantine)
    return [(spec, p) for spec in cfg.data
            for p in sample_pairs(read_pairs(spec, on_bad_row=cfg.on_bad_row, quarantine=quarantine)[0],
                                  cfg.max_pairs_per_spec, 0)]


def build_features(cfg: FeaturesConfig, out: str | Path, *, log=print) -> FeatureSet:
    """Load or (re)build the cache in `out` for cfg; returns it loaded."""
    from rewardkit.models.loading import load_reward_model
    from rewardkit.probing.features import EXPORTABLE_POOLING, pair_rows, pooled_features

    out = Path(out)
    if not _is_cache(out):  # a cache of ours is reused or rebuilt; anything else must be new or empty
        check_output_dir(out)
    specs_pairs = _read(cfg, out.with_name(out.name + ".quarantine.jsonl"))
    model, tok = load_reward_model(cfg.model, dtype=cfg.dtype, seed=0)
    check_layers(cfg.layers, model.config.num_hidden_layers, cfg.model)
    from rewardkit.evaluation.checks import check_max_length

    check_max_length(tok, cfg.max_length)
    encoded = [encode_pair(tok, p, max_length=cfg.max_length) for _, p in specs_pairs]
    rows = pair_rows(encoded)
    key = cache_key(model_fingerprint(model), rows, cfg)
    if (out / MANIFEST).is_file() and json.loads((out / MANIFEST).read_text()).get("key") == key:
        log(f"features: {out} is current ({len(encoded)} pairs), reused")
        return load_cache(out)
    if out.exists() and any(out.iterdir()):
        log(f"features: {out} was built from another model, data or settings: rebuilding")
        if _is_cache(out) and not (out / OWNED_MARKER).is_file():  # written before OWNED_MARKER existed
            mark_owned(out, [p.name for p in out.iterdir()
                             if p.suffix == ".npy" or p.name in (MANIFEST, "pairs.jsonl")])
        check_replaceable_dir(out)  # before the pass, not after it
    t0 = time.perf_counter()
    feats = pooled_features(model, rows, tok.pad_token_id, batch_tokens=cfg.batch_tokens, layers=cfg.layers,
                            progress=True)
    seconds = time.perf_counter() - t0
    tokens = sum(len(r) for r in rows)
    manifest = {"key": key, "format": FORMAT, "config": cfg.model_dump(), "pairs": len(encoded),
                "hidden_size": model.config.hidden_size, "tokens": tokens, "seconds": round(seconds, 2),
                "tokens_per_s": round(tokens / max(seconds, 1e-9), 1),
                "exportable_pooling": EXPORTABLE_POOLING if getattr(model, "score", None) is not None else None}
    records = [{"id": p.id, "prompt_id": content_id(p.prompt, "", ""), "source": p.source, "source_id": p.source_id, "spec": spec,
                "subset": p.meta.get("subset"), "chosen_chars": len(p.chosen), "rejected_chars": len(p.rejected), "truncated": e.truncated}
               for (spec, p), e in zip(specs_pairs, encoded)]
    with atomic_dir(out, marker=MANIFEST, replace=True) as tmp:
        for name, arr in feats.items():
            np.save(tmp / f"{name}.npy", arr.reshape(len(encoded), 2, -1))
        np.save(tmp / "tokens.npy", np.asarray([len(r) for r in rows], dtype=np.int64).reshape(-1, 2))
        (tmp / "pairs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")  # last: marks the cache complete
    log(f"features: {len(encoded)} pairs, {tokens:,} tokens in {seconds:.1f} s "
        f"({manifest['tokens_per_s']:,.0f} tok/s) -> {out}")
    return load_cache(out)
