"""The malformed-input corpus: each kind of bad row, in a file of valid rows, is reported by file, line
and field (error mode) and quarantined with its reason while every valid row still yields its pair
(skip mode). Files are generated here, in tmp_path."""

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
    "empty response": ("offsetbias", _offsetbias, _edit(_offsetbias, output_1="  "), "chosen", "empty text"),
    "chosen == rejected": ("rewardbench", _rewardbench, _edit(_rewardbench, rejected="c 99"), "chosen",
                           "chosen identical to rejected"),
    "unknown label string": ("wildguardmix", _wildguard, _edit(_wildguard, response_refusal_label="partial"),
                             "response_refusal_label", "unknown label"),
    "unknown label number": ("offsetbias", _offsetbias, _edit(_offsetbias, label=3), "label", "unknown label"),
    "out-of-range rating": ("helpsteer2", _helpsteer2, _edit(_helpsteer2, helpfulness=7), "helpfulness", "out of range"),
    "bad multi-turn marker": ("helpsteer2", _helpsteer2, _edit(_helpsteer2, prompt="a\n<extra_id_1>Robot\nb"),
                              "prompt", "unknown turn role"),
    "malformed HH transcript": ("hh_rlhf", _hh, json.dumps({"chosen": "\n\nHuman: x\n\nAssistant: a\n\nAssistant: b",
                                                             "rejected": "\n\nHuman: x\n\nAssistant: c"}),
                                "chosen", "malformed transcript"),
    "HH without Human turn": ("hh_rlhf", _hh, json.dumps({"chosen": "Assistant: hi", "rejected": "Assistant: ho"}),
                              "chosen", "malformed transcript"),
    "bad message list": ("skywork", _skywork, _edit(_skywork, chosen=[{"role": "bot", "content": "x"}]),
                         "chosen", "bad message list"),
    "prompts differ": ("skywork", _skywork, _edit(_skywork, rejected=[{"role": "user", "content": "other"},
                                                                      {"role": "assistant", "content": "n"}]),
                       "rejected", "prompt turns differ"),
    "bad JSON turn list": ("arena", _arena, _edit(_arena, response_a="[not json"), "response_a", "invalid JSON list"),
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


def test_corpus_covers_at_least_ten_kinds():
    assert len({(c[3], c[4].split(" (")[0]) for c in CASES.values()}) >= 10


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
