"""benchmarks/heldout_reading.py: a blind reader's A/B verdicts turned into agrees / tie / disagrees with
the label, the ceiling they imply, agreement of two readers, and a run's accuracy per verdict."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def reading():
    spec = importlib.util.spec_from_file_location("heldout_reading", REPO / "benchmarks" / "heldout_reading.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_verdict_is_read_against_the_side_the_chosen_was_shown_on(reading):
    assert reading.verdict("A", "chosen") == "agrees" and reading.verdict("B", "rejected") == "agrees"
    assert reading.verdict("B", "chosen") == "disagrees" and reading.verdict("A", "rejected") == "disagrees"
    assert reading.verdict("tie", "chosen") == reading.verdict("tie", "rejected") == "tie"


def test_ceiling_by_hand(reading):
    assert reading.ceiling(["agrees", "tie", "disagrees", "agrees"]) == pytest.approx((1 + 0.5 + 0 + 1) / 4)


def _run(tmp_path, ids, model, probe):
    run = tmp_path / "run"
    (run / "train").mkdir(parents=True)
    (run / "train" / "summary.json").write_text(json.dumps({"heldout_margins": {"ids": ids, "model": model, "probe": probe}}))
    return run


def test_collect_then_report_scores_the_run_per_verdict(reading, tmp_path, capsys):
    key = tmp_path / "key.json"
    key.write_text(json.dumps({f"ne0{i}": {"id": f"p{i}", "bias": "neighbour", "a_is": side}
                               for i, side in enumerate(["chosen", "rejected", "chosen", "rejected"])}))
    blind = tmp_path / "blind"
    blind.mkdir()
    (blind / "verdicts_neighbour.jsonl").write_text("".join(
        json.dumps({"item": f"ne0{i}", "verdict": v}) + "\n" for i, v in enumerate(["A", "B", "tie", "A"])))
    dest = tmp_path / "readings.jsonl"
    reading.collect(key, blind, dest)
    rows = [json.loads(line) for line in dest.read_text().splitlines()]
    assert [r["verdict"] for r in rows] == ["agrees", "agrees", "tie", "disagrees"]

    run = _run(tmp_path, ["p0", "p1", "p2", "p3", "other"], [1.0, -1.0, 0.0, 2.0, 5.0], [1.0, 1.0, 1.0, -1.0, 0.0])
    reading.report([rows, rows], [run], judge=run)
    out = capsys.readouterr().out
    assert "| neighbour | agrees | 2 | 50.0 [" in out and "| 100.0 [" in out  # model 1 of 2; probe 2 of 2
    assert "| neighbour | tie | 1 | 50.0 [" in out  # a margin of exactly 0 is a tie: ½, never a win
    assert "reader 1 62.5, reader 2 62.5; the readers give the same verdict on 4 of 4, kappa 1.00" in out
    assert "kept (wrong or tied): 1 of 2 (50%)" in out and "dropped (right): 1 of 2 (50%)" in out

    second = [{**r, "verdict": v} for r, v in zip(rows, ["agrees", "tie", "tie", "disagrees"])]
    reading.report([rows, second], [run], judge=run)
    out = capsys.readouterr().out
    # p1 is "agrees" for one reader and "tie" for the other: its own group, out of both
    assert "| neighbour | agrees | 1 | 100.0 [" in out and "| neighbour | readers differ | 1 | 0.0 [" in out
    # observed 3/4; chance (2·1 + 1·2 + 1·1)/16 = 5/16; kappa (12/16 − 5/16) / (11/16) = 0.64
    assert "reader 1 62.5, reader 2 50.0; the readers give the same verdict on 3 of 4, kappa 0.64" in out
    assert "kept (wrong or tied): 0 of 2 (0%)" in out and "dropped (right): 1 of 2 (50%)" in out


def test_bad_verdicts_and_other_hold_outs_are_refused(reading, tmp_path):
    key = tmp_path / "key.json"
    key.write_text(json.dumps({"ne00": {"id": "p0", "bias": "neighbour", "a_is": "chosen"}}))
    (tmp_path / "verdicts_neighbour.jsonl").write_text(json.dumps({"item": "ne00", "verdict": "maybe"}) + "\n")
    with pytest.raises(SystemExit, match=r"verdicts_neighbour.jsonl:1: .*verdict A, B or tie"):
        reading.collect(key, tmp_path, tmp_path / "out.jsonl")
    rows = [{"id": "p0", "bias": "neighbour", "verdict": "agrees"}]
    with pytest.raises(SystemExit, match="1 read pairs are not among its held-out pairs"):
        reading.report([rows], [_run(tmp_path, ["q"], [1.0], [1.0])], judge=None)


def test_the_natural_rejected_longer_type_is_read_pairs_whose_rejected_is_longer(reading):
    from rewardkit.data.pairs import PreferencePair

    def pair(source, chosen, rejected):
        return PreferencePair(prompt=[{"role": "user", "content": "q"}], chosen=chosen, rejected=rejected,
                              source=source, source_id="0")

    pairs = [pair("toy", "short", "much longer"), pair("toy", "much longer", "short"),
             pair("hard_pairs/longer_worse", "short", "much longer"), pair("hard_pairs/neighbour", "a", "b")]
    assert reading.of_type(pairs, reading.NATURAL_LONGER) == [pairs[0]]
    assert reading.of_type(pairs, "longer_worse") == [pairs[2]] and reading.of_type(pairs, "neighbour") == [pairs[3]]
