"""Model cards: every reward-model directory rewardkit exports gets a README.md in Hugging Face's format.

The card is YAML metadata (base_model, library_name, pipeline_tag, tags, datasets) and markdown rendered
from one file of facts beside it, `rewardkit.json`: the base model, the recipe that made the model, the
training mixture (Table 1 per source), the decontamination counts (Table 4), and every evaluation it has
(held-out accuracy beside the probe and "longer wins"; RewardBench, RewardBench 2, RM-Bench). Each stage
adds what it knows with `update_card(model_dir, **facts)`, which rewrites the card whole, so
`rewardkit evaluate --model DIR` replaces that evaluation's tables and leaves the rest as it was.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from rewardkit.data.io import write_json_atomic, write_text_atomic
from rewardkit.errors import note_written

CARD = "README.md"
FACTS = "rewardkit.json"
"""The card's facts, one JSON object per model directory (read back by every update)."""
TAGS = ["reward-model", "rewardkit", "preference-learning"]
PAPER = "Skywork-Reward: Bag of Tricks for Reward Modeling in LLMs (arXiv:2410.18451)"


def read_facts(model_dir: str | Path) -> dict[str, Any]:
    path = Path(model_dir) / FACTS
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def update_card(model_dir: str | Path, **facts: Any) -> Path:
    """Merge `facts` into the directory's rewardkit.json (an `evaluations` entry replaces the one of the same
    data, others stay) and rewrite README.md from all of them; returns the card's path."""
    model_dir = Path(model_dir)
    merged = read_facts(model_dir)
    for key, value in facts.items():
        if key == "evaluations":
            merged["evaluations"] = {**merged.get("evaluations", {}), **value}
        elif value is not None:
            merged[key] = value
    write_json_atomic(model_dir / FACTS, merged)
    dest = model_dir / CARD
    write_text_atomic(dest, render_card(merged))
    note_written(model_dir, [FACTS, CARD])  # the model dir is replaced whole by the next export
    return dest


def hub_datasets(mixture: list[dict]) -> list[str]:
    """The hub ids among the mixture's sources (`owner/name`, as every reader names its pairs' source)."""
    return sorted({r["dataset"] for r in mixture if r.get("dataset", "").count("/") == 1 and r["dataset"] != "Total"})


def metadata(facts: dict) -> dict:
    meta: dict[str, Any] = {"library_name": "transformers", "pipeline_tag": "text-classification", "tags": TAGS}
    if facts.get("base_model"):
        meta["base_model"] = facts["base_model"]
    datasets = hub_datasets(facts.get("mixture") or [])
    if datasets:
        meta["datasets"] = datasets
    return meta


def _table(rows: list[dict], columns: list[tuple[str, str]]) -> str:
    def cell(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.1f}"
        return "—" if v is None else f"{v:,}" if isinstance(v, int) else str(v)

    head = "| " + " | ".join(h for _, h in columns) + " |"
    rule = "|" + "|".join("---" if i == 0 else "---:" for i in range(len(columns))) + "|"
    return "\n".join([head, rule, *("| " + " | ".join(cell(r.get(k)) for k, _ in columns) + " |" for r in rows)])


def _pct(x: float | None) -> float | None:
    return None if x is None else 100 * x


def mixture_section(rows: list[dict]) -> str:
    return ("## Training data (Table 1)\n\nPairs per source after the run's own rules, with the average turns "
            "and prompt / response tokens (the model's tokenizer):\n\n"
            + _table(rows, [("dataset", "source"), ("pairs", "pairs"), ("avg_turns", "avg turns"),
                            ("avg_prompt_tokens", "avg prompt tokens"), ("avg_response_tokens", "avg response tokens")]))


def decontamination_section(table4: dict | None) -> str:
    if not table4:
        return ("## Decontamination\n\nThe training pairs were not checked against a benchmark by rewardkit "
                "(`rewardkit run` with a `decontaminate:` section does it).")
    benches = ", ".join(b.get("spec", "?") for b in table4.get("benchmarks", []))
    return (f"## Decontamination (Table 4)\n\nA pair was removed when its prompt shares a word {table4.get('n')}-gram "
            f"with a benchmark prompt (fields: {table4.get('fields')}); benchmarks: {benches}.\n\n"
            + _table(table4.get("table4", []), [("source", "source"), ("pairs", "pairs checked"),
                                                ("contaminated_pairs", "pairs removed"),
                                                ("contaminated_prompts", "prompts removed"),
                                                ("benchmark_prompts_matched", "benchmark prompts matched")]))


def heldout_section(heldout: dict) -> str:
    names = [(n, label) for n, label in (("model", "this model"), ("probe", "frozen probe (its start)"),
                                         ("length_baseline", "longer response wins")) if n in heldout.get("all", {})]

    def fmt(cell: dict) -> str:
        lo, hi = cell["ci95"] or (None, None)
        return f"{100 * cell['accuracy']:.1f}" + ("" if lo is None else f" [{100 * lo:.1f}, {100 * hi:.1f}]")

    rows = [{"source": source, "pairs": row["model"]["pairs"], **{n: fmt(row[n]) for n, _ in names}}
            for source, row in heldout.items()]
    return ("### Held-out pairs (whole prompts held out of training)\n\nAccuracy %, Wilson 95% interval:\n\n"
            + _table(rows, [("source", "source"), ("pairs", "pairs"), *names]))


def evaluation_section(name: str, ev: dict) -> str:
    parts = [f"### {name}"]
    if ev.get("table2"):
        row = {k: v for k, v in ev["table2"].items()}
        parts.append("RewardBench (%; a section with none of its subsets scored is —):\n\n"
                     + _table([row], [(k, k) for k in row]))
    if ev.get("subsets"):
        parts.append(_table([{"subset": k, "n": v["n"], "accuracy": _pct(v["accuracy"])} for k, v in ev["subsets"].items()],
                            [("subset", "RewardBench subset"), ("n", "pairs"), ("accuracy", "accuracy %")]))
    if ev.get("rewardbench2"):
        rb2 = ev["rewardbench2"]
        rows = [{"subset": k, "score": _pct(v["score"])} for k, v in rb2["subsets"].items()]
        rows.append({"subset": "overall" if rb2.get("overall") is not None else "mean of subsets present",
                     "score": _pct(rb2.get("overall") if rb2.get("overall") is not None else rb2.get("overall_present_subsets"))})
        parts.append(_table(rows, [("subset", "RewardBench 2 subset"), ("score", "score %")]))
    if ev.get("rmbench"):
        rm = ev["rmbench"]
        rows = [{"domain": k, "n": v["n"], "easy": _pct(v["easy"]), "normal": _pct(v["normal"]), "hard": _pct(v["hard"]),
                 "score": _pct(v["score"])} for k, v in rm["domains"].items()]
        parts.append(_table(rows, [("domain", "RM-Bench domain"), ("n", "prompts"), ("easy", "easy"),
                                   ("normal", "normal"), ("hard", "hard"), ("score", "score")]))
    if ev.get("results"):
        parts.append(f"Every example's scores: `{ev['results']}` (`rewardkit evaluate --scores` recomputes these tables).")
    return "\n\n".join(parts)


def evaluation_facts(results: dict) -> dict:
    """What a card keeps of an evaluate results.json: the summaries, not the per-example scores."""
    out: dict[str, Any] = {}
    if results.get("table2"):
        out["table2"] = results["table2"]
        out["subsets"] = {k: {"n": v["n"], "accuracy": v["accuracy"]} for k, v in results.get("subsets", {}).items()}
    if results.get("rewardbench2"):
        r = results["rewardbench2"]
        out["rewardbench2"] = {"subsets": {k: {"score": v["score"]} for k, v in r["subsets"].items()},
                               "overall": r.get("overall"), "overall_present_subsets": r.get("overall_present_subsets")}
    if results.get("rmbench"):
        r = results["rmbench"]
        out["rmbench"] = {"domains": {k: {x: v[x] for x in ("n", "easy", "normal", "hard", "score")}
                                      for k, v in r["domains"].items()}}
    return out


USAGE = '''## Use with transformers alone

```python
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

path = "{path}"
tokenizer = AutoTokenizer.from_pretrained(path)
model = AutoModelForSequenceClassification.from_pretrained(path, torch_dtype=torch.float32).eval()
conversation = [{{"role": "user", "content": "What is 2 + 2?"}}, {{"role": "assistant", "content": "4"}}]
ids = tokenizer.apply_chat_template(conversation, return_tensors="pt", return_dict=True)
with torch.no_grad():
    reward = model(**ids).logits[0, 0].item()   # higher = preferred
```

One score per conversation (`num_labels: 1`), read at the last token; the tokenizer's pad token differs
from EOS, so padded batches score the same as one at a time. `rewardkit score|evaluate|serve --model {path}`
use it unchanged.'''


def render_card(facts: dict) -> str:
    title = facts.get("title") or "Reward model"
    lines = ["---", yaml.safe_dump(metadata(facts), sort_keys=False).rstrip(), "---", "", f"# {title}", ""]
    lines.append(f"A reward model (one score per conversation) trained with rewardkit, following {PAPER}.")
    if facts.get("base_model"):
        lines.append(f"Base model: `{facts['base_model']}`.")
    if facts.get("how"):
        lines.append(facts["how"])
    sections = []
    if facts.get("mixture"):
        sections.append(mixture_section(facts["mixture"]))
    sections.append(decontamination_section(facts.get("decontamination")))
    evals = []
    if facts.get("heldout"):
        evals.append(heldout_section(facts["heldout"]))
    for name, ev in sorted((facts.get("evaluations") or {}).items()):
        evals.append(evaluation_section(name, ev))
    if evals:
        sections.append("## Evaluation\n\n" + "\n\n".join(evals))
    if facts.get("recipe"):
        sections.append("## The recipe that made it\n\n```yaml\n" + facts["recipe"].rstrip() + "\n```")
    sections.append(USAGE.format(path=facts.get("path", "MODEL_DIR")))
    return "\n".join(lines) + "\n\n" + "\n\n".join(sections) + "\n"
