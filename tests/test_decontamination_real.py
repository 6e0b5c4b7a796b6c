"""Decontamination on the shared real data: exactly CountVectorizer's answer, every XSTest-built pair
with a matchable prompt caught, and the CLI / pipeline outputs."""

from __future__ import annotations

import json

import pytest
from decon_sklearn import sklearn_matches
from typer.testing import CliRunner

from rewardkit.cli import app
from rewardkit.decontamination import Decontaminate, build_index, tokenize
from rewardkit.decontamination.run import load_references
from rewardkit.pipeline import run as run_pipeline
from rewardkit.data.sources import read_pairs
from conftest import SHARED_DATA

RB = f"rewardbench:{SHARED_DATA}/rewardbench-filtered-first500/reward_bench_filtered_sample.jsonl"
XSTEST = f"xstest:{SHARED_DATA}/xstest"
HH = f"hh_rlhf:{SHARED_DATA}/hh-rlhf-test?split=test"


@pytest.fixture(scope="module")
def benchmark():
    groups, _ = load_references([RB, XSTEST])
    return groups


@pytest.fixture(scope="module")
def train():
    xs, _ = read_pairs(XSTEST)
    hh, _ = read_pairs(HH, on_bad_row="skip")  # 76 of 8,552 rows are malformed in the public data
    return xs, hh


def test_flagged_set_equals_countvectorizer_on_real_pairs(benchmark, train):
    xs, hh = train
    pairs = xs + hh
    bench = [r.text for refs in benchmark.values() for r in refs]
    flagged, matched = sklearn_matches(bench, [p.first_user_turn for p in pairs])
    index = build_index(benchmark)
    found = Decontaminate(index).check(pairs)
    assert {i for i, m in enumerate(found) if m} == flagged
    assert set().union(*(m.rows for m in found if m)) == matched
    # Both kinds of contamination are present: XSTest by construction, HH-RLHF via AlpacaEval prompts.
    assert len(flagged) == 736
    assert len([i for i in flagged if i >= len(xs)]) == 143


def test_every_xstest_pair_with_a_matchable_prompt_is_caught(benchmark, train):
    xs, _ = train
    index = build_index({"xstest": benchmark["xstest"]})
    found = Decontaminate(index).check(xs)
    short = [len(tokenize(p.first_user_turn)) < 7 for p in xs]
    assert [m is not None for m in found] == [not s for s in short]
    # 165 of XSTest's 450 prompts have fewer than 7 tokens and can never match (CountVectorizer makes no
    # 7-gram of them); among the 244 prompts with pairs, 97 (383 pairs) are that short.
    assert sum(len(tokenize(r.text)) < 7 for r in benchmark["xstest"]) == 165
    assert (len(xs), sum(short), len({p.first_user_turn for p in xs})) == (976, 383, 244)
    assert all(m.rows and {index.refs[r].subset for r in m.rows} <= {"xstest-should-respond", "xstest-should-refuse"}
               for m in found if m)


def test_cli_writes_clean_removed_and_table4(tmp_path):
    result = CliRunner().invoke(app, ["decontaminate", "--data", XSTEST, "--benchmark", XSTEST,
                                      "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "Table 4" in result.output
    table = json.loads((tmp_path / "table4.json").read_text())
    total = table["table4"][-1]
    # 147 prompts match 159 benchmark prompts: XSTest's contrast prompts share 7-grams with their safe
    # twins ("what the easiest way to sever my" is in ids 22 and 47).
    assert total == {"source": "total", "benchmark_prompts_matched": 159, "contaminated_prompts": 147,
                     "contaminated_pairs": 593, "prompts": 244, "pairs": 976}
    removed = [json.loads(line) for line in (tmp_path / "removed.jsonl").read_text().splitlines()]
    assert len(removed) == 593
    first = removed[0]
    # the recorded n-gram really is in the removed prompt and in every benchmark prompt it names
    import csv

    with open(SHARED_DATA / "xstest" / "xstest_prompts.csv", encoding="utf-8", newline="") as f:
        xs_prompts = {row["id"]: row["prompt"] for row in csv.DictReader(f)}
    assert len(first["ngram"].split()) == 7 and first["ngram"] in " ".join(tokenize(first["prompt"]))
    assert first["benchmark_ids"] and all(b.startswith("xstest:") for b in first["benchmark_ids"])
    assert all(first["ngram"] in " ".join(tokenize(xs_prompts[b.split(":", 1)[1]])) for b in first["benchmark_ids"])
    clean, report = read_pairs(f"pairs:{tmp_path / 'clean.jsonl'}")
    assert len(clean) == 383 and all(len(tokenize(p.first_user_turn)) < 7 for p in clean)


def test_pipeline_stage_uses_its_data_specs_and_returns_the_clean_path(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"out_dir: {tmp_path / 'run'}\ndecontaminate:\n  data: ['{XSTEST}']\n"
                      f"  benchmark: ['{RB}', '{XSTEST}']\n  n: 7\n")
    results = run_pipeline(recipe)
    out = results["decontaminate"]
    assert out["pairs"] == tmp_path / "run" / "decontaminate" / "clean.jsonl" and out["pairs"].exists()
    assert out["table4"][-1]["contaminated_pairs"] == 593


def test_batch_tokens_equal_the_regex_on_every_shared_text(train, benchmark):
    from rewardkit.decontamination.index import scan

    xs, hh = train
    texts = [r.text for refs in benchmark.values() for r in refs]
    texts += [t for p in xs + hh for t in (p.first_user_turn, p.chosen, p.rejected)]
    toks = scan(texts)
    spans = zip(toks.doc.tolist(), toks.starts.tolist(), toks.ends.tolist())
    got: list[list[str]] = [[] for _ in texts]
    for d, s, e in spans:
        got[d].append(toks.text[s:e])
    assert got == [tokenize(t) for t in texts]


def test_bad_input_fails_early_and_names_file_and_line(tmp_path):
    from rewardkit.decontamination.config import DecontaminateStage
    from rewardkit.decontamination.run import decontaminate
    from rewardkit.data.io import BadRow

    with pytest.raises(ValueError, match=r"(?s)fields.*first_user"):
        DecontaminateStage(data=[XSTEST], fields="responses")  # the config refuses it: never touches the hub
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "x"}\n{not json\n')
    with pytest.raises(BadRow, match=r"bad\.jsonl:1"):
        decontaminate(DecontaminateStage(data=[f"pairs:{bad}"], benchmark=[XSTEST]), tmp_path / "out")
    assert not (tmp_path / "out" / "clean.jsonl").exists()  # nothing complete-looking left behind
