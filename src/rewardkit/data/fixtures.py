"""Fixture files in the exact public schemas of the sources this machine cannot reach.

    rewardkit data fixtures --out DIR [--scale full] [--seed N]

Writes HelpSteer2 (train.jsonl.gz), OffsetBias (train.jsonl), WildGuardMix (train/wildguard_train.parquet),
magpie-ultra and the three Magpie DPO sets (data/train-00000-of-00001.parquet), column for column as in
docs/schemas.md, so the readers run the same code on them as on the hub files. "small" is a few
hundred rows per source (seconds); "full" is the paper's "Preference 378K" (section 3.1) over the seven
sources. Lengths follow the paper's Table 1 token averages (via textgen.TOKENS_PER_WORD); texts are
random words, so nothing here says anything about quality, only about shapes, sizes and speed.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from rewardkit.data.io import atomic_path
from rewardkit.data.textgen import TextGen
from rewardkit.errors import own_output_dir

Scale = Literal["small", "full"]
TOKENS_PER_WORD = 2.2
"""SmolLM2 tokens per fixture word, measured on textgen output: Table 1 token targets / this = words."""

# Rows per source. full: the public row counts (HelpSteer2 train, OffsetBias, WildGuardMix train) and the
# DPO sets' train splits; pairs come to ~378K (HelpSteer2 ties and unpaired WildGuard rows drop out).
ROWS = {
    "small": {"helpsteer2": 400, "offsetbias": 300, "wildguardmix": 400, "magpie_ultra": 300,
              "magpie_pro_llama31": 300, "magpie_pro": 300, "magpie_air": 300},
    "full": {"helpsteer2": 20_324, "offsetbias": 8_504, "wildguardmix": 86_759, "magpie_ultra": 50_000,
             "magpie_pro_llama31": 98_000, "magpie_pro": 98_000, "magpie_air": 98_000},
}
# Table 1 of the paper: (avg prompt tokens, avg response tokens).
TABLE1_TOKENS = {"helpsteer2": (21.3, 690.0), "offsetbias": (69.1, 222.1), "wildguardmix": (164.3, 349.9),
                 "magpie_ultra": (76.7, 670.0), "magpie_pro": (34.2, 621.5), "magpie_pro_llama31": (118.8, 584.3),
                 "magpie_air": (66.6, 240.0)}
CATEGORIES = ["Information seeking", "Reasoning", "Planning", "Editing", "Coding & Debugging", "Math",
              "Role playing", "Data analysis", "Creative writing", "Advice seeking", "Brainstorming", "Others"]
# Skewed toward Math and code, as the paper's category-wise selection (section 3.2.1) presumes.
CATEGORY_P = [0.20, 0.07, 0.05, 0.04, 0.12, 0.26, 0.03, 0.05, 0.06, 0.07, 0.04, 0.01]
ULTRA_CATEGORIES = [c for c in CATEGORIES if c != "Role playing"]  # argilla's list has no Role playing
DIFFICULTY = ["very easy", "easy", "medium", "hard", "very hard"]
QUALITY = ["very poor", "poor", "average", "good", "excellent"]
WILDGUARD_HARM = ["causing_material_harm_by_disseminating_misinformation", "copyright_violations", "cyberattack",
                  "defamation_encouraging_unethical_or_unsafe_actions",
                  "disseminating_false_or_misleading_information_encouraging_disinformation_campaigns",
                  "fraud_assisting_illegal_activities", "mental_health_over-reliance_crisis", "others",
                  "private_information_individual", "sensitive_information_organization_government",
                  "sexual_content", "social_stereotypes_and_unfair_discrimination",
                  "toxic_language_hate_speech", "violence_and_physical_harm"]
DPO_MODELS = {"magpie_pro_llama31": "meta-llama/Meta-Llama-3.1-70B-Instruct",
              "magpie_pro": "meta-llama/Meta-Llama-3-70B-Instruct",
              "magpie_air": "meta-llama/Meta-Llama-3-8B-Instruct"}
BATCH_ROWS = 10_000  # parquet row group size; bounds memory at full scale


def write_fixtures(out_dir: str | Path, *, scale: Scale = "small", seed: int = 0) -> dict[str, Path]:
    """Write every fixture source under out_dir; returns {reader name: data file}."""
    if scale not in ROWS:
        raise ValueError(f"scale must be one of {sorted(ROWS)}, not {scale!r}")
    if seed < 0:  # numpy's SeedSequence says only "expected non-negative integer"
        raise ValueError(f"fixtures seed must be >= 0, got {seed}")
    out = own_output_dir(out_dir)
    rows = ROWS[scale]
    # One independent stream per source: a source's files do not change when another's size does.
    rngs = dict(zip(rows, (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(len(rows)))))
    paths = {
        "helpsteer2": _helpsteer2(out / "helpsteer2" / "train.jsonl.gz", rows["helpsteer2"], rngs["helpsteer2"]),
        "offsetbias": _offsetbias(out / "offsetbias" / "train.jsonl", rows["offsetbias"], rngs["offsetbias"]),
        "wildguardmix": _wildguardmix(out / "wildguardmix" / "train" / "wildguard_train.parquet",
                                      rows["wildguardmix"], rngs["wildguardmix"]),
        "magpie_ultra": _magpie_ultra(out / "magpie_ultra" / "data" / "train-00000-of-00001.parquet",
                                      rows["magpie_ultra"], rngs["magpie_ultra"]),
    }
    for name in DPO_MODELS:
        paths[name] = _magpie_dpo(out / name / "data" / "train-00000-of-00001.parquet", name, rows[name], rngs[name])
    return paths


# --- helpers -------------------------------------------------------------------------------------

def _words(tokens: float) -> float:
    return max(3.0, tokens / TOKENS_PER_WORD)


def _texts(gen: TextGen, n: int, tokens: float, sigma: float = 0.5) -> pa.Array:
    """Word-by-word texts (for prompts: unique n-grams)."""
    return gen.texts(gen.lengths(n, _words(tokens), sigma))


def _responses(gen: TextGen, n: int, tokens: float) -> pa.Array:
    """Long texts joined from a pool of random passages (fast at millions of responses)."""
    pool_words = 40.0
    pool = gen.texts(gen.lengths(max(200, min(n * 2, 40_000)), pool_words, 0.4))
    return gen.compose(pool, gen.lengths(n, _words(tokens), 0.6), pool_words)


def _categories(rng: np.random.Generator, n: int, names: list[str], p: list[float], missing: float) -> list:
    """Category per row; the first len(names) rows cover every category; `missing` share is None
    (the tagger's failure value, docs/schemas.md §8)."""
    p = np.asarray([p[CATEGORIES.index(c)] for c in names])
    idx = rng.choice(len(names), n, p=p / p.sum())
    idx[: min(n, len(names))] = np.arange(min(n, len(names)))
    out = np.asarray(names, dtype=object)[idx]
    out[rng.random(n) < missing] = None
    out[: min(n, len(names))] = names[: min(n, len(names))]
    return out.tolist()


def _write_parquet(dest: Path, batches) -> Path:
    """Write an iterator of record batches (one row group each) atomically."""
    with atomic_path(dest) as tmp:
        writer = None
        for batch in batches:
            if writer is None:
                writer = pq.ParquetWriter(tmp, batch.schema)
            writer.write_table(batch)
        writer.close()
    return dest


def _chunks(n: int):
    for start in range(0, n, BATCH_ROWS):
        yield start, min(n, start + BATCH_ROWS)


def _messages(contents: list[pa.Array], roles: list[str]) -> pa.Array:
    """list<struct{content, role}> rows from per-turn content arrays (all of one length)."""
    n, k = len(contents[0]), len(contents)
    order = (np.arange(n)[:, None] + np.arange(k)[None, :] * n).ravel()  # row-major interleave
    content = pa.concat_arrays([c.cast(pa.string()) for c in contents]).take(pa.array(order))
    role = pa.array(np.tile(np.asarray(roles, dtype=object), n).tolist(), pa.string())
    values = pa.StructArray.from_arrays([content, role], names=["content", "role"])
    return pa.ListArray.from_arrays(pa.array(np.arange(0, n * k + 1, k, dtype=np.int32)), values)


# --- sources -------------------------------------------------------------------------------------

def _helpsteer2(dest: Path, n_rows: int, rng: np.random.Generator) -> Path:
    """Two consecutive rows per prompt (the card); ~29% multi-turn prompts in the <extra_id_1> encoding."""
    gen = TextGen(rng)
    n_prompts = n_rows // 2
    n_user = np.where(rng.random(n_prompts) < 0.29, rng.integers(2, 6, n_prompts), 1)
    user = _texts(gen, int(n_user.sum()), 30).to_pylist()
    assistant = _responses(gen, int((n_user - 1).sum()), 150).to_pylist()
    responses = _responses(gen, 2 * n_prompts, TABLE1_TOKENS["helpsteer2"][1]).to_pylist()
    # P(helpfulness tie) = sum p^2 ~ 0.26, near the paper's 7,221 of ~10K pairs kept.
    scores = rng.choice(5, size=(2 * n_prompts, 5), p=[0.05, 0.10, 0.25, 0.35, 0.25])
    u = a = 0
    with atomic_path(dest) as tmp, gzip.open(tmp, "wt", encoding="utf-8", compresslevel=1) as f:
        for i in range(n_prompts):
            parts = [user[u]]
            for _ in range(n_user[i] - 1):
                parts.append(f"\n<extra_id_1>Assistant\n{assistant[a]}\n<extra_id_1>User\n{user[u + 1]}")
                u, a = u + 1, a + 1
            u += 1
            prompt = "".join(parts)
            for j in (2 * i, 2 * i + 1):
                row = {"prompt": prompt, "response": responses[j]}
                row.update(zip(("helpfulness", "correctness", "coherence", "complexity", "verbosity"),
                               map(int, scores[j])))
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
    return dest


def _offsetbias(dest: Path, n: int, rng: np.random.Generator) -> Path:
    gen = TextGen(rng)
    prompt_t, resp_t = TABLE1_TOKENS["offsetbias"]
    instr = _texts(gen, n, prompt_t).to_pylist()
    out = _responses(gen, 2 * n, resp_t).to_pylist()
    labels = rng.integers(1, 3, n)
    with atomic_path(dest) as tmp, open(tmp, "w", encoding="utf-8") as f:
        for i in range(n):
            f.write(json.dumps({"instruction": instr[i], "output_1": out[2 * i], "output_2": out[2 * i + 1],
                                "label": int(labels[i])}, ensure_ascii=False) + "\n")
    return dest


def _wildguardmix(dest: Path, n: int, rng: np.random.Generator) -> Path:
    """56% prompt-only rows (48,783 of 86,759 in the real train set); the rest are 1-5 responses per
    prompt, refusals likelier for harmful prompts; adversarial flags on about half."""
    gen = TextGen(rng)
    n_only = round(n * 48_783 / 86_759)
    k = rng.choice(np.arange(1, 6), size=n, p=[0.15, 0.25, 0.30, 0.20, 0.10])
    k = k[: int(np.searchsorted(np.cumsum(k), n - n_only)) + 1]
    k[-1] -= int(k.sum()) - (n - n_only)
    k = k[k > 0]
    n_prompts = n_only + len(k)
    per_prompt = np.concatenate([np.ones(n_only, dtype=np.int64), k])
    adversarial = rng.random(n_prompts) < 0.5
    harmful = rng.random(n_prompts) < 0.5
    words = np.where(adversarial, _words(230), _words(60))  # adversarial (WildTeaming) prompts run long
    prompts = gen.texts(np.maximum(3, (words * rng.lognormal(-0.08, 0.4, n_prompts)).astype(np.int64)))
    sub = np.where(harmful, np.asarray(WILDGUARD_HARM, dtype=object)[rng.integers(0, len(WILDGUARD_HARM), n_prompts)], "benign")
    row_prompt = np.repeat(np.arange(n_prompts), per_prompt)
    has_response = np.repeat(np.arange(n_prompts) >= n_only, per_prompt)
    refusal = rng.random(n) < np.where(harmful[row_prompt], 0.6, 0.3)
    resp_harmful = harmful[row_prompt] & ~refusal & (rng.random(n) < 0.7)
    responses = _responses(gen, n, TABLE1_TOKENS["wildguardmix"][1]).to_pylist()
    order = rng.permutation(n)  # rows of one prompt are not adjacent in the real file
    r, h = row_prompt[order], has_response[order]
    table = pa.table({
        "prompt": prompts.take(pa.array(r)),
        "adversarial": pa.array(adversarial[r]),
        "response": pa.array([responses[i] if h[j] else None for j, i in enumerate(order)], pa.string()),
        "prompt_harm_label": pa.array(np.where(harmful[r], "harmful", "unharmful").tolist()),
        "response_harm_label": pa.array([("harmful" if resp_harmful[i] else "unharmful") if h[j] else None
                                         for j, i in enumerate(order)], pa.string()),
        "response_refusal_label": pa.array([("refusal" if refusal[i] else "compliance") if h[j] else None
                                            for j, i in enumerate(order)], pa.string()),
        "subcategory": pa.array(sub[r].tolist(), pa.string()),
    })
    return _write_parquet(dest, [table])


def _magpie_ultra(dest: Path, n: int, rng: np.random.Generator) -> Path:
    """All 27 columns of argilla/magpie-ultra-v0.1 (docs/schemas.md §4); `embedding` has 32 dims
    instead of the real 1,024 to keep the files small (nothing reads it)."""
    gen = TextGen(rng)
    prompt_t, resp_t = TABLE1_TOKENS["magpie_ultra"]
    tags = _categories(rng, n, ULTRA_CATEGORIES, CATEGORY_P, missing=0.0)

    def batches():
        for s, e in _chunks(n):
            m = e - s
            instr = _texts(gen, m, prompt_t)
            resp, base = _responses(gen, m, resp_t), _responses(gen, m, resp_t * 0.8)
            score = rng.normal(0.15, 0.03, m)
            score_base = rng.normal(0.12, 0.04, m)  # the base model's answers score lower on average
            short = _texts(gen, 4 * m, 25)
            safe = rng.random(m) < 0.97
            yield pa.table({
                "model_name_response_base": ["meta-llama/Meta-Llama-3.1-405B-FP8"] * m,
                "instruction": instr, "response": resp, "response_base": base,
                "intent": short.slice(0, m), "knowledge": short.slice(m, m),
                "difficulty": pa.array(np.asarray(DIFFICULTY)[rng.integers(0, 5, m)].tolist()),
                "model_name_difficulty": ["meta-llama/Meta-Llama-3.1-8B-Instruct"] * m,
                "explanation": short.slice(2 * m, m),
                "quality": pa.array(np.asarray(QUALITY)[rng.integers(0, 5, m)].tolist()),
                "model_name_quality": ["meta-llama/Meta-Llama-3.1-8B-Instruct"] * m,
                "primary_tag": pa.array(tags[s:e], pa.string()),
                "other_tags": pa.array([[t] if t else [] for t in np.asarray(ULTRA_CATEGORIES)[rng.integers(0, 11, m)]],
                                       pa.list_(pa.string())),
                "model_name_classification": ["meta-llama/Meta-Llama-3.1-8B-Instruct"] * m,
                "embedding": pa.FixedSizeListArray.from_arrays(pa.array(rng.normal(size=32 * m)), 32).cast(pa.list_(pa.float64())),
                "model_name_embeddings": ["Alibaba-NLP/gte-large-en-v1.5"] * m,
                "score": score, "score_base": score_base,
                "distilabel_metadata": pa.StructArray.from_arrays([short.slice(3 * m, m)], names=["raw_output_assign_tags_0"]),
                "nn_indices": pa.FixedSizeListArray.from_arrays(pa.array(rng.integers(0, n, 5 * m)), 5).cast(pa.list_(pa.int64())),
                "nn_scores": pa.FixedSizeListArray.from_arrays(pa.array(rng.random(5 * m)), 5).cast(pa.list_(pa.float64())),
                "messages": _messages([instr, resp], ["user", "assistant"]),
                "guard": pa.array(np.where(safe, "safe", "unsafe\nS2").tolist()),
                "model_name_guard": ["meta-llama/Llama-Guard-3-8B"] * m,
                "safe": pa.array(safe),
                "hazard_category": pa.array([None if ok else "S2" for ok in safe], pa.string()),
                "score_difference": score - score_base,
            })
    return _write_parquet(dest, batches())


def _magpie_dpo(dest: Path, name: str, n: int, rng: np.random.Generator) -> Path:
    """docs/schemas.md §5a's columns: 5 responses, rewards_armorm [{score}], chosen/rejected =
    [user, assistant] with the argmax/argmin response (the authors' process_po.ipynb)."""
    gen = TextGen(rng)
    prompt_t, resp_t = TABLE1_TOKENS[name]
    model = DPO_MODELS[name]
    cats = _categories(rng, n, CATEGORIES, CATEGORY_P, missing=0.002)
    gen_in = pa.StructArray.from_arrays([pa.array([model]), pa.array([1.0]), pa.array([1.0])],
                                        names=["input_generator", "temperature", "top_p"])
    stop = pa.array([["<|eot_id|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>"]])

    def batches():
        for s, e in _chunks(n):
            m = e - s
            instr = _texts(gen, m, prompt_t)
            flat = _responses(gen, 5 * m, resp_t)
            scores = rng.normal(0.12, 0.03, (m, 1)) + rng.normal(0, 0.02, (m, 5))
            best, worst = scores.argmax(1), scores.argmin(1)
            rows = np.arange(m) * 5
            short = _texts(gen, 3 * m, 25)
            templated = pc.binary_join_element_wise(
                "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n", instr,
                "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n", "")
            gen_out = pa.StructArray.from_arrays(
                [pa.array(["vllm"] * m), pa.array([4096] * m, pa.int64()), pa.array([model] * m), templated,
                 pa.array([1.0] * m), stop.take(pa.array(np.zeros(m, dtype=np.int64))),
                 pa.array([0.8] * m), pa.array([1.0] * m)],
                names=["engine", "max_tokens", "output_generator", "prompt", "repetition_penalty", "stop_tokens",
                       "temperature", "top_p"])
            rewards = pa.ListArray.from_arrays(
                pa.array(np.arange(0, 5 * m + 1, 5, dtype=np.int32)),
                pa.StructArray.from_arrays([pa.array(scores.ravel())], names=["score"]))
            yield pa.table({
                "uuid": pa.array([f"{x:032x}" for x in rng.integers(0, 2**63, m)]),
                "instruction": instr,
                "gen_input_configs": gen_in.take(pa.array(np.zeros(m, dtype=np.int64))),
                "intent": short.slice(0, m), "knowledge": short.slice(m, m),
                "difficulty": pa.array(np.asarray(DIFFICULTY)[rng.integers(0, 5, m)].tolist()),
                "input_quality": pa.array(np.asarray(QUALITY)[rng.choice(5, m, p=[.05, .1, .25, .4, .2])].tolist()),
                "quality_explanation": short.slice(2 * m, m),
                "task_category": pa.array(cats[s:e], pa.string()),
                "input_length": pc.utf8_length(instr).cast(pa.int64()),
                "responses": pa.ListArray.from_arrays(pa.array(np.arange(0, 5 * m + 1, 5, dtype=np.int32)), flat),
                "gen_response_configs": gen_out,
                "rewards_armorm": rewards,
                "chosen": _messages([instr, flat.take(pa.array(rows + best))], ["user", "assistant"]),
                "rejected": _messages([instr, flat.take(pa.array(rows + worst))], ["user", "assistant"]),
            })
    return _write_parquet(dest, batches())


# --- pipeline stage --------------------------------------------------------------------------------

from rewardkit.recipe import StrictModel  # noqa: E402 - kept beside the stage it serves


class FixturesStage(StrictModel):
    """Recipe section `fixtures:` - write the fixture sources to out_dir/fixtures/."""

    scale: Scale = "small"
    """small: a few hundred rows per source (seconds); full: the paper's ~378K pairs (~30 s, ~2.4 GB)."""
    seed: int = 0
    """Seed of the text and label generators; equal seeds give identical files."""
