"""The malformed-input corpus: each kind of broken row, in a file of valid rows, is reported by file, line
and field (error mode) and quarantined with its reason while every valid row still yields its pair
(skip mode); each kind of row a dataset's rule leaves out (ties, empty replies, irregular transcripts)
is dropped in both modes, counted under its name and quarantined as "dropped". Files are generated
here, in tmp_path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rewardkit.cli import app
from rewardkit.data.io import BadRow
from rewardkit.data.sources import read_pairs

N_VALID = 4  # valid units (each gives exactly one pair) around the bad row


def _offsetbias(i):
    return [{"instruction": f"question {i}", "output_1": f"good answer {i}", "output_2": f"bad answer {i}", "label": 1}]


def _helpsteer2(i):
    base = {"prompt": f"prompt {i}", "correctness": 3, "coherence": 3, "complexity": 2, "verbosity": 2}
    return [{**base, "response": f"better {i}", "helpfulness": 4}, {**base, "response": f"worse {i}", "helpfulness": 1}]


def _rewardbench(i):
    return [{"prompt": f"p {i}", "chosen": f"c {i}", "chosen_model": "m1", "rejected": f"r {i}",
             "rejected_model": "m2", "subset": "alpacaeval-easy", "id": i}]


def _wildguard(i):
    base = {"prompt": f"how do I do harm {i}", "adversarial": True, "prompt_harm_label": "harmful",
            "subcategory": "cyberattack"}
    return [{**base, "response": f"I can't help {i}", "response_harm_label": "unharmful", "response_refusal_label": "refusal"},
            {**base, "response": f"Sure {i}", "response_harm_label": "harmful", "response_refusal_label": "compliance"}]


def _hh(i):
    head = f"\n\nHuman: hello {i}\n\nAssistant: hi\n\nHuman: tell me {i}\n\nAssistant: "
    return [{"chosen": head + "a good answer", "rejected": head + "a bad answer"}]


def _skywork(i):
    p = [{"role": "user", "content": f"q {i}"}]
    return [{"chosen": p + [{"role": "assistant", "content": "yes"}],
             "rejected": p + [{"role": "assistant", "content": "no"}], "source": "magpie_ultra"}]


def _arena(i):
    return [{"id": i, "model_a": "a", "model_b": "b", "prompt": json.dumps([f"q {i}"]),
             "response_a": json.dumps(["A"]), "response_b": json.dumps(["B"]),
             "winner_model_a": 1, "winner_model_b": 0, "winner_tie": 0}]


def _magpie(i):
    return [{"instruction": f"solve {i}", "responses": [f"r{j}" for j in range(5)], "task_category": "Math",
             "rewards_armorm": [{"score": s} for s in (0.1, 0.3, 0.2, 0.05, 0.15)]}]


def _saved(i):
    from rewardkit.data.pairs import PreferencePair

    pair = PreferencePair(prompt=[{"role": "user", "content": f"q {i}"}], chosen=f"yes {i}", rejected=f"no {i}",
                          source="test")
    return [pair.to_dict()]


def _edit(make, **changes):
    row = make(99)[0]
    for k, v in changes.items():
        if v is ...:
            del row[k]
        else:
            row[k] = v
    return json.dumps(row)


# kind -> (reader, valid-unit factory, the bad line as raw text, field named, reason substring)
CASES = {
    "broken JSON": ("offsetbias", _offsetbias, '{"instruction": "x", "output_1": ', None, "invalid JSON"),
    "non-object JSON line": ("offsetbias", _offsetbias, '["a", "b"]', None, "expected a JSON object"),
    "missing field": ("offsetbias", _offsetbias, _edit(_offsetbias, output_2=...), "output_2", "missing field"),
    "wrong type": ("helpsteer2", _helpsteer2, _edit(_helpsteer2, helpfulness="3"), "helpfulness", "wrong type"),
    "blank subset name": ("rewardbench", _rewardbench, _edit(_rewardbench, subset=" "), "subset", "empty text"),
    "unknown label string": ("wildguardmix", _wildguard, _edit(_wildguard, response_refusal_label="partial"),
                             "response_refusal_label", "unknown label"),
    "unknown label number": ("offsetbias", _offsetbias, _edit(_offsetbias, label=3), "label", "unknown label"),
    "out-of-range rating": ("helpsteer2", _helpsteer2, _edit(_helpsteer2, helpfulness=7), "helpfulness", "out of range"),
    "bad multi-turn marker": ("helpsteer2", _helpsteer2, _edit(_helpsteer2, prompt="a\n<extra_id_1>Robot\nb"),
                              "prompt", "unknown turn role"),
    "HH without Human turn": ("hh_rlhf", _hh, json.dumps({"chosen": "Assistant: hi", "rejected": "Assistant: ho"}),
                              "chosen", "not a transcript"),
    "HH transcript not a string": ("hh_rlhf", _hh, json.dumps({"chosen": ["x"], "rejected": "\n\nHuman: x"}),
                                   "chosen", "wrong type (expected str, got list)"),
    "bad message list": ("skywork", _skywork, _edit(_skywork, chosen=[{"role": "bot", "content": "x"}]),
                         "chosen", "bad message list"),
    "prompts differ": ("skywork", _skywork, _edit(_skywork, rejected=[{"role": "user", "content": "other"},
                                                                      {"role": "assistant", "content": "n"}]),
                       "rejected", "prompt turns differ"),
    "bad JSON turn list": ("arena", _arena, _edit(_arena, response_a="[not json"), "response_a", "invalid JSON list"),
    "half a surrogate pair in a turn": ("arena", _arena, _edit(_arena, response_a='["A \\ud800"]'), "response_a",
                                        "turn [0] (character 2): a lone UTF-16 surrogate"),
    "half a surrogate pair in a field": ("skywork", _skywork, json.dumps(_skywork(0)[0])[:-1] + ', "x": "\\udfff"}',
                                         None, "x (character 0): a lone UTF-16 surrogate"),
    "stored id not the content hash": ("pairs", _saved, _edit(_saved, chosen="edited"), "id",
                                       "does not match the pair's content hash"),
    "undecodable meta": ("pairs", _saved, _edit(_saved, meta="{not json"), "meta", "Expecting property name"),
    "scores misaligned": ("magpie_pro", _magpie, _edit(_magpie, rewards_armorm=[{"score": 0.1}]),
                          "rewards_armorm", "length 1 != 5"),
}


def _write_corpus(tmp_path: Path, make, bad_line: str) -> tuple[Path, int]:
    """N_VALID units of valid rows with the bad line after the second unit; returns (file, bad line no.)."""
    lines = []
    for i in range(N_VALID):
        if i == 2:
            lines.append(bad_line)
            bad_at = len(lines)
        lines.extend(json.dumps(r) for r in make(i))
    path = tmp_path / "data.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, bad_at


@pytest.mark.parametrize("kind", list(CASES))
def test_error_mode_names_file_line_and_field(tmp_path, kind):
    reader, make, bad, field, reason = CASES[kind]
    path, line = _write_corpus(tmp_path, make, bad)
    with pytest.raises(BadRow) as exc:
        read_pairs(f"{reader}:{path}")
    err = exc.value
    assert (err.file, err.row, err.field) == (str(path), line, field)
    assert reason in err.reason
    assert f"{path}:{line}" in str(err)


@pytest.mark.parametrize("kind", list(CASES))
def test_skip_mode_quarantines_and_keeps_every_valid_row(tmp_path, kind):
    reader, make, bad, field, reason = CASES[kind]
    path, line = _write_corpus(tmp_path, make, bad)
    quarantine = tmp_path / "q.jsonl"
    pairs, report = read_pairs(f"{reader}:{path}", on_bad_row="skip", quarantine=quarantine)
    assert len(pairs) == N_VALID  # every valid unit still gives its pair
    assert report.pairs == N_VALID
    assert sum(report.skipped.values()) == 1
    (key,) = report.skipped
    assert key.startswith(f"{field}: " if field else "") and reason.split(" (")[0] in key
    records = [json.loads(x) for x in quarantine.read_text().splitlines()]
    assert len(records) == 1
    assert (records[0]["file"], records[0]["row"], records[0]["field"]) == (str(path), line, field)
    assert reason in records[0]["reason"]


HH_HEAD = "\n\nHuman: x\n\nAssistant: "

# kind -> (reader, valid-unit factory, the dropped line, the reason it is counted under)
DROPS = {
    "empty response": ("offsetbias", _offsetbias, _edit(_offsetbias, output_1="  "), "chosen: empty response"),
    "empty prompt": ("offsetbias", _offsetbias, _edit(_offsetbias, instruction=""), "prompt: empty turn"),
    "chosen == rejected": ("rewardbench", _rewardbench, _edit(_rewardbench, rejected="c 99"),
                           "chosen identical to rejected"),
    "HH two Assistant turns": ("hh_rlhf", _hh, json.dumps({"chosen": HH_HEAD + "a\n\nAssistant: b",
                                                            "rejected": HH_HEAD + "c"}),
                               "chosen: roles do not alternate user/assistant"),
    "HH empty reply": ("hh_rlhf", _hh, json.dumps({"chosen": HH_HEAD + "a", "rejected": HH_HEAD}),
                       "rejected: empty response"),
    "HH ends on a Human turn": ("hh_rlhf", _hh, json.dumps({"chosen": HH_HEAD + "a",
                                                            "rejected": HH_HEAD + "b\n\nHuman: more"}),
                                "rejected: wrong final turn"),
    "HH diverging transcripts": ("hh_rlhf", _hh, json.dumps({"chosen": HH_HEAD + "a\n\nHuman: y\n\nAssistant: b",
                                                              "rejected": HH_HEAD + "c\n\nHuman: y\n\nAssistant: d"}),
                                 "transcripts differ before the final turn"),
    "arena tie": ("arena", _arena, _edit(_arena, winner_model_a=0, winner_tie=1), "tie"),
    "Magpie equal scores": ("magpie_pro", _magpie, _edit(_magpie, rewards_armorm=[{"score": 0.5}] * 5),
                            "all ArmoRM scores equal"),
    "Skywork system turn mid-prompt": ("skywork", _skywork, _edit(_skywork, **{
        k: [{"role": "user", "content": "q"}, {"role": "system", "content": "s"}, {"role": "user", "content": "q2"},
            {"role": "assistant", "content": a}] for k, a in (("chosen", "yes"), ("rejected", "no"))}),
        "prompt: system turn not first"),
}


@pytest.mark.parametrize("mode", ["error", "skip"])
@pytest.mark.parametrize("kind", list(DROPS))
def test_rule_drops_are_counted_and_quarantined_in_either_mode(tmp_path, kind, mode):
    reader, make, line_text, reason = DROPS[kind]
    path, line = _write_corpus(tmp_path, make, line_text)
    quarantine = tmp_path / "q.jsonl"
    pairs, report = read_pairs(f"{reader}:{path}", on_bad_row=mode, quarantine=quarantine)
    assert len(pairs) == report.pairs == N_VALID
    assert report.dropped == {reason: 1} and not report.skipped
    (record,) = [json.loads(x) for x in quarantine.read_text().splitlines()]
    field = reason.split(": ")[0] if ": " in reason else None  # "chosen: empty response" concerns chosen
    assert (record["file"], record["row"], record["field"], record["reason"], record["action"]) == (
        str(path), line, field, reason, "dropped")
    assert record["raw"] == json.loads(line_text)


def test_runner_counts_every_row_once_and_quarantines_in_file_order(tmp_path):
    """A file with two broken rows and two dropped rows among valid ones: every row is accounted for."""
    good = [json.dumps(r) for i in range(3) for r in _offsetbias(i)]
    lines = [good[0], _edit(_offsetbias, label=3), good[1], _edit(_offsetbias, output_2="good answer 99"),
             "{oops", _edit(_offsetbias, output_2=" "), good[2]]
    path = tmp_path / "d.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    q = tmp_path / "q.jsonl"
    pairs, report = read_pairs(f"offsetbias:{path}", on_bad_row="skip", quarantine=q)
    assert [p.source_id for p in pairs] == ["1", "3", "7"]
    assert report.rows_read == 7 == report.pairs + sum(report.skipped.values()) + sum(report.dropped.values())
    assert report.skipped == {"label: unknown label": 1, "invalid JSON": 1}
    assert report.dropped == {"chosen identical to rejected": 1, "rejected: empty response": 1}
    records = [json.loads(x) for x in q.read_text().splitlines()]
    assert [(r["row"], r["field"], r["action"]) for r in records] == [
        (2, "label", "skipped"), (4, None, "dropped"), (5, None, "skipped"), (6, "rejected", "dropped")]
    with pytest.raises(BadRow, match=rf"^{path}:2: field 'label': unknown label"):
        read_pairs(f"offsetbias:{path}")  # error mode stops at the first broken row, not at a drop


def test_convert_cli_skip_mode_writes_pairs_and_quarantine(tmp_path):
    path, line = _write_corpus(tmp_path, _offsetbias, _edit(_offsetbias, label=3))
    out = tmp_path / "out" / "pairs.jsonl"
    result = CliRunner().invoke(app, ["data", "convert", f"offsetbias:{path}", "--out", str(out), "--on-bad-row", "skip"])
    assert result.exit_code == 0, result.output
    assert "1 label: unknown label" in result.output
    assert len(out.read_text().splitlines()) == N_VALID
    q = [json.loads(x) for x in (out.parent / "pairs.jsonl.quarantine.jsonl").read_text().splitlines()]
    assert [(r["row"], r["field"]) for r in q] == [(line, "label")]


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_convert_cli_failure_mid_write_leaves_no_output(tmp_path, suffix):
    path, _ = _write_corpus(tmp_path, _offsetbias, _edit(_offsetbias, label=3))
    out = tmp_path / "out" / f"pairs{suffix}"
    result = CliRunner().invoke(app, ["data", "convert", f"offsetbias:{path}", "--out", str(out)])
    assert isinstance(result.exception, BadRow)  # two pairs were already streamed to the temp file
    assert not out.exists()
    assert list(out.parent.glob("*")) == []  # no temp file left behind either


def test_inferred_columns_checked_on_first_row(tmp_path):
    path = tmp_path / "air.jsonl"
    path.write_text(json.dumps({"prompt": "x", "outputs": ["a", "b"]}) + "\n")
    with pytest.raises(ValueError, match=r"expected columns \['instruction', 'responses', 'rewards_armorm'\]"):
        read_pairs(f"magpie_air:{path}")
