"""Fixtures in the public schemas (read back by the real readers) and Table 1 statistics."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from rewardkit.data.fixtures import CATEGORIES, ROWS, write_fixtures
from rewardkit.data.sources import read_pairs
from rewardkit.data.stats import dataset_table, pair_stats, total_row
from rewardkit.data.pairs import PreferencePair
ULTRA_COLUMNS = [
    "model_name_response_base", "instruction", "response", "response_base", "intent", "knowledge", "difficulty",
    "model_name_difficulty", "explanation", "quality", "model_name_quality", "primary_tag", "other_tags",
    "model_name_classification", "embedding", "model_name_embeddings", "score", "score_base",
    "distilabel_metadata", "nn_indices", "nn_scores", "messages", "guard", "model_name_guard", "safe",
    "hazard_category", "score_difference"]
DPO_COLUMNS = ["uuid", "instruction", "gen_input_configs", "intent", "knowledge", "difficulty", "input_quality",
               "quality_explanation", "task_category", "input_length", "responses", "gen_response_configs",
               "rewards_armorm", "chosen", "rejected"]


@pytest.fixture(scope="module")
def fx(tmp_path_factory) -> dict[str, Path]:
    return write_fixtures(tmp_path_factory.mktemp("fx"), scale="small", seed=0)


def test_every_fixture_reads_through_its_reader(fx):
    assert set(fx) == {"helpsteer2", "offsetbias", "wildguardmix", "magpie_ultra", "magpie_pro_llama31",
                       "magpie_pro", "magpie_air"}
    for name, path in fx.items():
        pairs, report = read_pairs(f"{name}:{path}")
        assert report.rows_read == ROWS["small"][name] and pairs and not report.skipped, name
        if name.startswith(("magpie", "offsetbias")):  # one row -> one pair or one counted drop
            assert report.rows_read == report.pairs + sum(report.dropped.values()), name


def test_helpsteer2_fixture_schema(fx):
    rows = [json.loads(x) for x in gzip.open(fx["helpsteer2"], "rt")]
    assert list(rows[0]) == ["prompt", "response", "helpfulness", "correctness", "coherence", "complexity", "verbosity"]
    assert all(rows[i]["prompt"] == rows[i + 1]["prompt"] for i in range(0, len(rows), 2))  # consecutive pairs
    multi = sum("<extra_id_1>" in r["prompt"] for r in rows[::2]) / (len(rows) / 2)
    assert 0.2 < multi < 0.4  # the card: ~29% multi-turn
    pairs, report = read_pairs(f"helpsteer2:{fx['helpsteer2']}")
    assert report.dropped["helpfulness tie"] + len(pairs) == len(rows) // 2
    assert max(len(p.prompt) for p in pairs) >= 3


def test_wildguard_fixture_schema(fx):
    t = pq.read_table(fx["wildguardmix"]).to_pylist()
    assert list(t[0]) == ["prompt", "adversarial", "response", "prompt_harm_label", "response_harm_label",
                          "response_refusal_label", "subcategory"]
    assert {r["adversarial"] for r in t} == {True, False}
    assert {r["prompt_harm_label"] for r in t} == {"harmful", "unharmful"}
    only = [r for r in t if r["response"] is None]
    assert only and all(r["response_refusal_label"] is None and r["response_harm_label"] is None for r in only)
    per_prompt = Counter(r["prompt"] for r in t if r["response"] is not None)
    assert max(per_prompt.values()) >= 3
    pairs, report = read_pairs(f"wildguardmix:{fx['wildguardmix']}")
    assert report.dropped["prompt-only row (no response)"] == len(only)
    assert all(p.meta["chosen_refusal"] == p.meta["prompt_harmful"] for p in pairs)


def test_magpie_fixture_schemas_and_rules(fx):
    assert pq.read_schema(fx["magpie_ultra"]).names == ULTRA_COLUMNS
    for name in ("magpie_pro_llama31", "magpie_pro", "magpie_air"):
        table = pq.read_table(fx[name])
        assert table.schema.names == DPO_COLUMNS
        rows = table.slice(0, 50).to_pylist()
        for r in rows:
            scores = [s["score"] for s in r["rewards_armorm"]]
            assert len(r["responses"]) == 5
            assert r["chosen"][1]["content"] == r["responses"][scores.index(max(scores))]
            assert r["rejected"][1]["content"] == r["responses"][scores.index(min(scores))]
            assert r["chosen"][0] == {"content": r["instruction"], "role": "user"}
        cats = Counter(table.column("task_category").to_pylist())
        assert set(CATEGORIES) <= set(cats) and cats.most_common(1)[0][0] == "Math"
        pairs, _ = read_pairs(f"{name}:{fx[name]}")
        assert all(p.meta["score_chosen"] > p.meta["score_rejected"] for p in pairs)


def test_fixtures_are_seeded_and_prompts_rarely_share_7grams(tmp_path, fx):
    again = write_fixtures(tmp_path / "a", seed=0)
    other = write_fixtures(tmp_path / "b", seed=1)
    assert again["offsetbias"].read_bytes() == fx["offsetbias"].read_bytes()
    assert pq.read_table(again["magpie_pro"]).equals(pq.read_table(fx["magpie_pro"]))
    assert other["offsetbias"].read_bytes() != fx["offsetbias"].read_bytes()
    prompts = pq.read_table(fx["magpie_pro_llama31"]).column("instruction").to_pylist()
    grams = Counter(g for p in prompts for g in {tuple(p.split()[i:i + 7]) for i in range(len(p.split()) - 6)})
    assert sum(n > 1 for n in grams.values()) / len(grams) < 0.001


class WordTokenizer:
    """Whitespace tokenizer with the HF call signature: hand-countable token numbers."""

    def __call__(self, texts, add_special_tokens=False):
        return {"input_ids": [t.split() for t in texts]}


def test_pair_stats_hand_counted():
    single = PreferencePair([{"role": "user", "content": "a b c"}], "x y", "x y z w", source="s")
    multi = PreferencePair([{"role": "system", "content": "s"}, {"role": "user", "content": "a"},
                            {"role": "assistant", "content": "b c"}, {"role": "user", "content": "d"}],
                           "one", "two three four", source="s")
    stats = pair_stats([single, multi], WordTokenizer())
    assert stats == {"pairs": 2, "avg_turns": (2 + 5) / 2, "avg_prompt_tokens": (3 + 5) / 2,
                     "avg_response_tokens": (2 + 4 + 1 + 3) / 4}
    total = total_row([{"pairs": 1, "avg_turns": 2, "avg_prompt_tokens": 10, "avg_response_tokens": 100},
                       {"pairs": 3, "avg_turns": 4, "avg_prompt_tokens": 2, "avg_response_tokens": 20}])
    assert total == {"dataset": "Total", "pairs": 4, "avg_turns": 3.5, "avg_prompt_tokens": 4.0,
                     "avg_response_tokens": 40.0}


def test_table1_on_real_rows_with_smollm2_tokenizer(shared_data):
    from rewardkit.models.tokenizers import load_tokenizer

    rb = f"rewardbench:{shared_data / 'rewardbench-filtered-first500' / 'reward_bench_filtered_sample.jsonl'}"
    arena = f"arena:{shared_data / 'hf-samples-500' / 'lmsys_lmsys-arena-human-preference-55k_sample.jsonl'}"
    rows = dataset_table([rb, arena], load_tokenizer(), name="smollm2")
    assert [r["pairs"] for r in rows] == [500, 348, 848] and rows[-1]["dataset"] == "Total"
    assert rows[0]["avg_turns"] == 2.0 and rows[1]["avg_turns"] > 2.0
    assert rows[0]["tokenizer"] == "smollm2" and rows[1]["report"]["dropped"]["tie"] == 150
    tok = load_tokenizer()
    pairs, _ = read_pairs(rb)
    one_by_one = sum(len(tok.encode(p.prompt[0]["content"], add_special_tokens=False)) for p in pairs) / 500
    assert rows[0]["avg_prompt_tokens"] == pytest.approx(one_by_one)


def test_data_stats_cli_and_fixtures_pipeline_stage(shared_data, tmp_path):
    from typer.testing import CliRunner

    from rewardkit.cli import app
    from rewardkit.pipeline import run

    spec = f"pku_saferlhf:{shared_data / 'hf-samples-500' / 'PKU-Alignment_PKU-SafeRLHF_sample.jsonl'}"
    result = CliRunner().invoke(app, ["data", "stats", spec])
    assert result.exit_code == 0, result.output
    assert "Table 1" in result.output and "smollm2" in result.output and "500 rows read, 500 pairs" in result.output
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"out_dir: {tmp_path / 'run'}\nfixtures: {{scale: small, seed: 3}}\n")
    results = run(recipe)
    assert set(results["fixtures"]) == {"helpsteer2", "offsetbias", "wildguardmix", "magpie_ultra",
                                        "magpie_pro_llama31", "magpie_pro", "magpie_air"}
    assert all(p.is_file() and tmp_path / "run" / "fixtures" in p.parents for p in results["fixtures"].values())
