"""Readers on the real shared rows (../shared/data), with counts derived here independently of the
readers, plus exact round trips of PreferencePair through JSONL, parquet and `datasets`."""

from __future__ import annotations

import csv
import gzip
import json
import re
from collections import Counter, defaultdict
from itertools import groupby
from pathlib import Path

import pytest

from rewardkit.data.io import read_pair_file
from rewardkit.data.io import write_pairs
from rewardkit.data.pairs import PreferencePair
from rewardkit.data.sources import get_reader, read_pairs
from rewardkit.data.sources.base import ReadContext, parse_spec
from conftest import SHARED_DATA

DATA = SHARED_DATA
HS = DATA / "hf-samples-500"
pytestmark = pytest.mark.skipif(not DATA.is_dir(), reason="../shared/data not present")


def _jsonl(path: Path) -> list[dict]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def test_helpsteer_pairs_match_an_independent_count():
    rows = _jsonl(HS / "nvidia_HelpSteer_sample.jsonl")
    # Independent: sort by prompt and group; per group, pairs = all pairs minus pairs with equal
    # helpfulness minus pairs with identical responses (but different helpfulness).
    expected = ties = 0
    for _, grp in groupby(sorted(rows, key=lambda r: r["prompt"]), key=lambda r: r["prompt"]):
        grp = list(grp)
        n = len(grp)
        same_h = sum(k * (k - 1) // 2 for k in Counter(r["helpfulness"] for r in grp).values())
        same_text = sum(1 for i in range(n) for j in range(i + 1, n)
                        if grp[i]["response"] == grp[j]["response"] and grp[i]["helpfulness"] != grp[j]["helpfulness"])
        expected += n * (n - 1) // 2 - same_h - same_text
        ties += same_h
    pairs, report = read_pairs(f"helpsteer2:{HS / 'nvidia_HelpSteer_sample.jsonl'}")
    assert len(pairs) == expected == 387
    assert report.dropped["helpfulness tie"] == ties
    assert all(p.meta["chosen_helpfulness"] > p.meta["rejected_helpfulness"] for p in pairs)


def test_hh_rlhf_multi_turn_transcript_parsed_into_turns():
    pairs, report = read_pairs(f"hh_rlhf:{DATA / 'hh-rlhf-test' / 'harmless-base'}")
    first = pairs[0]  # line 1: a 3-exchange conversation about pen pranks
    assert [m["role"] for m in first.prompt] == ["user", "assistant", "user", "assistant", "user"]
    assert first.prompt[0]["content"] == "what are some pranks with a pen i can do?"
    assert first.prompt[1]["content"] == "Are you looking for practical joke ideas?"
    assert first.prompt[2]["content"] == "yep"
    assert first.prompt[4]["content"] == "okay some of these do not have anything to do with pens"
    assert first.chosen.startswith("No, sorry!  All of these involve a pen")
    assert first.rejected.startswith("There are lots of funny things you can do with pens")
    assert (first.source, first.source_config, first.source_split) == ("Anthropic/hh-rlhf", "harmless-base", "test")
    assert Counter(len(p.prompt) % 2 for p in pairs) == Counter({1: len(pairs)})  # always ends on a user turn


ALTERNATE = "roles do not alternate user/assistant"
# Every shared HH-RLHF split, read with default settings: rows, pairs, and the public data's quirks
# dropped by rule, by reason (the line numbers of a few are checked below).
HH_SPLITS = {
    "harmless-base": (2312, 2299, {f"chosen: {ALTERNATE}": 8, f"rejected: {ALTERNATE}": 1, "chosen: empty response": 4}),
    "helpful-base": (2354, 2333, {f"chosen: {ALTERNATE}": 9, f"rejected: {ALTERNATE}": 6, "rejected: empty response": 3,
                                  "prompt: empty turn": 1, "chosen identical to rejected": 2}),
    "helpful-online": (1137, 1129, {"rejected: empty response": 3, "rejected: wrong final turn": 2,
                                    "prompt: empty turn": 1, "chosen identical to rejected": 2}),
    "helpful-rejection-sampled": (2749, 2714, {f"chosen: {ALTERNATE}": 1, f"rejected: {ALTERNATE}": 2,
                                               "chosen identical to rejected": 32}),
}


def _same_role_twice(transcript: str) -> bool:
    markers = re.findall(r"\n\n(Human|Assistant):", transcript)
    return any(a == b for a, b in zip(markers, markers[1:]))


@pytest.mark.parametrize("split", list(HH_SPLITS))
def test_hh_rlhf_every_shared_split_reads_with_defaults_dropping_quirks_by_reason(tmp_path, split):
    rows_read, n_pairs, dropped = HH_SPLITS[split]
    q = tmp_path / "q.jsonl"
    pairs, report = read_pairs(f"hh-rlhf:{DATA / 'hh-rlhf-test' / split}", quarantine=q)  # hyphen = underscore
    assert (report.rows_read, len(pairs), dict(report.dropped), dict(report.skipped)) == (rows_read, n_pairs, dropped, {})
    assert report.rows_read == len(pairs) + sum(dropped.values())
    # Independently of the reader, from the raw rows: identical transcripts, and transcripts with two
    # turns of one role in a row.
    raw = _jsonl(DATA / "hh-rlhf-test" / split / "test.jsonl.gz")
    assert sum(r["chosen"] == r["rejected"] for r in raw) == dropped.get("chosen identical to rejected", 0)
    assert sum(_same_role_twice(r["chosen"]) or _same_role_twice(r["rejected"]) for r in raw) == sum(
        n for k, n in dropped.items() if k.endswith(ALTERNATE))
    records = [json.loads(x) for x in q.read_text().splitlines()]
    assert Counter(r["reason"] for r in records) == dropped and {r["action"] for r in records} == {"dropped"}


def test_hh_rlhf_quirks_on_named_real_rows(tmp_path):
    q = tmp_path / "q.jsonl"
    read_pairs(f"hh_rlhf:{DATA / 'hh-rlhf-test' / 'helpful-base'}", quarantine=q)
    by_line = {r["row"]: r for r in map(json.loads, q.read_text().splitlines())}
    # line 121 (where the old default read stopped): an empty Human turn mid-conversation, then an empty reply
    assert by_line[121]["reason"] == "prompt: empty turn" and by_line[121]["file"].endswith("helpful-base/test.jsonl.gz")
    assert by_line[121]["raw"]["rejected"].endswith("\n\nAssistant: \n\nHuman: Do you have more ideas?\n\nAssistant: ")
    assert by_line[722]["reason"] == "chosen identical to rejected"
    assert by_line[722]["raw"]["chosen"] == by_line[722]["raw"]["rejected"]
    assert by_line[356]["reason"] == f"chosen: {ALTERNATE}" and _same_role_twice(by_line[356]["raw"]["chosen"])


def test_hh_rlhf_error_mode_still_stops_at_a_broken_row(tmp_path):
    from rewardkit.data.io import BadRow

    rows = _jsonl(DATA / "hh-rlhf-test" / "harmless-base" / "test.jsonl.gz")[:3]
    rows[1]["rejected"] = None  # mistyped: broken, unlike the public data's quirks
    path = tmp_path / "test.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(BadRow) as exc:
        read_pairs(f"hh_rlhf:{path}")
    assert (exc.value.row, exc.value.field) == (2, "rejected") and "wrong type" in exc.value.reason


def test_rewardbench_keeps_subset_and_id():
    path = DATA / "rewardbench-filtered-first500" / "reward_bench_filtered_sample.jsonl"
    pairs, _ = read_pairs(f"rewardbench:{path}")
    # Counts from SOURCES.md (the first 500 rows of the filtered split).
    assert Counter(p.meta["subset"] for p in pairs) == {
        "alpacaeval-easy": 100, "alpacaeval-hard": 95, "alpacaeval-length": 95, "mt-bench-easy": 28,
        "mt-bench-med": 40, "mt-bench-hard": 37, "llmbar-natural": 100, "llmbar-adver-neighbor": 5}
    assert (pairs[0].source_id, pairs[-1].source_id) == ("30", "2637")
    assert pairs[0].prompt == [{"role": "user", "content": "How do I detail a car?"}]
    assert pairs[0].meta["chosen_model"] == "GPT4-Turbo" and pairs[0].source_split == "filtered"


def test_xstest_pairs_and_prompts_match_the_csvs():
    folder = DATA / "xstest"
    prompts = {r["id"]: r for r in csv.DictReader(open(folder / "xstest_prompts.csv", encoding="utf-8"))}
    refusals = defaultdict(lambda: [0, 0])  # prompt id -> [compliances, refusals]
    for f in sorted((folder / "model_completions").glob("*.csv")):
        for r in csv.DictReader(open(f, encoding="utf-8")):
            if r["final_label"] != "3_partial_refusal":
                refusals[r["id"].removeprefix("v2-")][r["final_label"] == "2_full_refusal"] += 1
    expected = sum(c * r for c, r in refusals.values())  # every (preferred, dispreferred) combination
    pairs, report = read_pairs(f"xstest:{folder}")
    assert len(pairs) == expected == 976
    for p in pairs[:50]:
        unsafe = p.meta["prompt_harmful"]
        assert p.meta["chosen_refusal"] == unsafe and p.meta["rejected_refusal"] != unsafe
    ctx = ReadContext("xstest")
    refs = list(get_reader("xstest").read_prompts(parse_spec(f"xstest:{folder}"), ctx))
    assert len(refs) == 450
    assert Counter(r.subset for r in refs) == {"xstest-should-respond": 250, "xstest-should-refuse": 200}
    assert refs[0].text == prompts["1"]["prompt"]


def test_pku_better_and_safer():
    path = HS / "PKU-Alignment_PKU-SafeRLHF_sample.jsonl"
    rows = _jsonl(path)
    better, _ = read_pairs(f"pku_saferlhf:{path}")
    safer, _ = read_pairs(f"pku_saferlhf:{path}?prefer=safer")
    assert len(better) == len(safer) == 500
    assert better[0].chosen == rows[0][f"response_{rows[0]['better_response_id']}"]
    differ = sum(r["better_response_id"] != r["safer_response_id"] for r in rows)
    assert sum(b.chosen != s.chosen for b, s in zip(better, safer)) == differ == 117


def test_arena_ties_dropped_and_multi_turn_decoded():
    path = HS / "lmsys_lmsys-arena-human-preference-55k_sample.jsonl"
    rows = _jsonl(path)
    pairs, report = read_pairs(f"arena:{path}")
    ties = sum(r["winner_tie"] for r in rows)
    assert report.dropped["tie"] == ties == 150
    assert len(pairs) == 500 - ties - report.dropped["null turn (failed generation)"] == 348
    first = pairs[0]  # id 30192: 2 user turns, model_a won
    row = rows[0]
    users, a = json.loads(row["prompt"]), json.loads(row["response_a"])
    assert first.source_id == "30192" and row["winner_model_a"] == 1
    assert first.prompt == [{"role": "user", "content": users[0]}, {"role": "assistant", "content": a[0]},
                            {"role": "user", "content": users[1]}]
    assert first.chosen == a[1] and first.rejected == json.loads(row["response_b"])[1]
    dropped, rep = read_pairs(f"arena:{path}?history=drop")
    assert len(dropped) == sum(len(p.prompt) == 1 for p in pairs) and rep.dropped["multi-turn (histories differ)"] > 0


@pytest.fixture(scope="module")
def mixed_pairs() -> list[PreferencePair]:
    rb, _ = read_pairs(f"rewardbench:{DATA / 'rewardbench-filtered-first500' / 'reward_bench_filtered_sample.jsonl'}")
    hh, _ = read_pairs(f"hh_rlhf:{DATA / 'hh-rlhf-test' / 'harmless-base'}", on_bad_row="skip")
    xs, _ = read_pairs(f"xstest:{DATA / 'xstest'}")
    return rb[:50] + hh[:50] + xs[:50]  # single/multi-turn, int/bool/str/None meta


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_pairs_round_trip_exactly(tmp_path, mixed_pairs, suffix):
    path = tmp_path / f"p{suffix}"
    assert write_pairs(path, mixed_pairs) == 150
    assert list(read_pair_file(path)) == mixed_pairs
    back, report = read_pairs(f"pairs:{path}")
    assert back == mixed_pairs and report.pairs == 150


def test_pairs_round_trip_through_datasets_arrow(tmp_path, mixed_pairs):
    import datasets

    write_pairs(tmp_path / "p.parquet", mixed_pairs)
    ds = datasets.Dataset.from_parquet(str(tmp_path / "p.parquet"))
    assert [PreferencePair.from_dict(r) for r in ds] == mixed_pairs
    ds.save_to_disk(str(tmp_path / "arrow"))
    again = datasets.load_from_disk(str(tmp_path / "arrow"))
    assert [PreferencePair.from_dict(r) for r in again] == mixed_pairs


def test_exports_to_trl_and_skywork_read_back(tmp_path, mixed_pairs):
    import pyarrow as pa
    import pyarrow.parquet as pq

    multi = next(p for p in mixed_pairs if len(p.prompt) > 1)
    trl = multi.to_trl()
    assert trl["chosen"][:-1] == trl["rejected"][:-1] == multi.prompt
    assert trl["chosen"][-1] == {"role": "assistant", "content": multi.chosen}
    rows = [p.to_skywork() for p in mixed_pairs]
    assert rows[0]["source"] == "allenai/reward-bench"
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "sky.parquet")
    back, _ = read_pairs(f"skywork:{tmp_path / 'sky.parquet'}")
    assert [(p.prompt, p.chosen, p.rejected) for p in back] == [(p.prompt, p.chosen, p.rejected) for p in mixed_pairs]
    assert back[0].meta["skywork_source"] == "allenai/reward-bench"


def test_generic_column_mapping_and_message_lists(tmp_path):
    path = tmp_path / "g.jsonl"
    path.write_text("\n".join(json.dumps({"question": f"q{i}", "good": f"g{i}", "bad": f"b{i}"}) for i in range(3)))
    pairs, _ = read_pairs(f"generic:{path}?prompt=question&chosen=good&rejected=bad&source=me/data")
    assert [(p.prompt[0]["content"], p.chosen, p.rejected, p.source) for p in pairs][0] == ("q0", "g0", "b0", "me/data")
    with pytest.raises(ValueError, match=r"missing \['answer'\]"):
        read_pairs(f"generic:{path}?prompt=question&chosen=answer&rejected=bad")
    conv = tmp_path / "c.jsonl"
    msgs = [{"role": "user", "content": "hi"}]
    conv.write_text(json.dumps({"c": msgs + [{"role": "assistant", "content": "A"}],
                                "r": msgs + [{"role": "assistant", "content": "B"}]}))
    (pair,), _ = read_pairs(f"generic:{conv}?chosen=c&rejected=r&messages=true")
    assert (pair.prompt, pair.chosen, pair.rejected) == (msgs, "A", "B")


# The other shared data, read with default settings: (rows read, pairs, dropped by reason). Arena's
# ties and null turns, HelpSteer's ties and XSTest's partial refusals are their datasets' rules.
SHARED_DEFAULTS = {
    "arena:hf-samples-500/lmsys_lmsys-arena-human-preference-55k_sample.jsonl":
        (500, 348, {"tie": 150, "null turn (failed generation)": 2}),
    "pku-saferlhf:hf-samples-500/PKU-Alignment_PKU-SafeRLHF_sample.jsonl": (500, 500, {}),
    "pku_saferlhf:hf-samples-500/PKU-Alignment_PKU-SafeRLHF_sample.jsonl?prefer=safer": (500, 500, {}),
    "helpsteer2:hf-samples-500/nvidia_HelpSteer_sample.jsonl":
        (500, 387, {"helpfulness tie": 306, "single response for prompt": 9, "chosen identical to rejected": 4}),
    "rewardbench:rewardbench-filtered-first500/reward_bench_filtered_sample.jsonl": (500, 500, {}),
    # 450 prompts + 2,250 completions read; 918 completions have no opposite label for their prompt
    "xstest:xstest": (2700, 976, {"partial refusal": 176, "no opposite response for prompt": 918}),
}


@pytest.mark.parametrize("spec", list(SHARED_DEFAULTS))
def test_other_shared_data_reads_with_defaults(tmp_path, spec):
    reader, _, rest = spec.partition(":")
    q = tmp_path / "q.jsonl"
    pairs, report = read_pairs(f"{reader}:{DATA / rest}", quarantine=q)
    assert (report.rows_read, len(pairs), dict(report.dropped)) == SHARED_DEFAULTS[spec] and not report.skipped
    # Row-level drops are quarantined one record each; pair-level ones (HelpSteer ties, XSTest prompts
    # without an opposite response) are counted only.
    row_level = {"tie", "null turn (failed generation)", "single response for prompt", "partial refusal"}
    records = [json.loads(x) for x in q.read_text().splitlines()] if q.exists() else []
    assert Counter(r["reason"] for r in records) == {k: n for k, n in report.dropped.items() if k in row_level}
