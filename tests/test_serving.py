"""The HTTP server (create_app with a tiny model) and `rewardkit score`."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from tiny_models import save_tiny, tiny_llama, tiny_tokenizer
from typer.testing import CliRunner

from rewardkit.cli import app as cli_app
from rewardkit.data.pairs import PreferencePair
from rewardkit.models.scoring import RewardModel
from rewardkit.serving.app import create_app

CONVS = [[{"role": "user", "content": "why is the sky blue"}, {"role": "assistant", "content": "because light scatter"}],
         [{"role": "user", "content": "hello"}, {"role": "assistant", "content": "yes"}]]


@pytest.fixture()
def scorer():
    return RewardModel(tiny_llama(), tiny_tokenizer())


def test_score_endpoint_returns_the_scorer_numbers_in_order(scorer):
    client = TestClient(create_app(scorer, name="tiny"))
    expected = scorer.score(CONVS, progress=False)
    res = client.post("/score", json={"conversations": CONVS})
    assert res.status_code == 200 and res.json() == {"scores": expected, "truncated": 0}
    res = client.post("/score", json={"conversations": CONVS[::-1], "max_length": 8})
    cut = scorer.score(CONVS[::-1], max_length=8, progress=False)
    assert res.json() == {"scores": cut, "truncated": 1}  # the 13-token conversation, cut to 8
    assert cut[1] != pytest.approx(expected[0], abs=1e-6)  # and cutting does change its score
    assert client.get("/health").json() == {"status": "ok", "model": "tiny"}


@pytest.mark.parametrize("body", [{"conversations": []}, {"conversations": [[]]},
                                  {"conversations": [[{"role": "robot", "content": "x"}]]}, {"convs": CONVS}])
def test_bad_requests_are_422(scorer, body):
    assert TestClient(create_app(scorer)).post("/score", json=body).status_code == 422


def test_score_command_writes_pairs_with_both_scores(tmp_path):
    model_dir = save_tiny(tiny_llama(), tiny_tokenizer(), tmp_path / "model")
    pairs = [PreferencePair([{"role": "user", "content": "why is the sky blue"}], "because light scatter", "no", "t"),
             PreferencePair([{"role": "user", "content": "hello"}], "yes", "no", "t")]
    data = tmp_path / "pairs.jsonl"
    data.write_text("".join(json.dumps(p.to_dict()) + "\n" for p in pairs))
    out = tmp_path / "scored.jsonl"
    res = CliRunner().invoke(cli_app, ["score", "--model", str(model_dir), "--data", f"pairs:{data}", "--out", str(out),
                                       "--dtype", "float32", "--max-length", "8"])
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    rm = RewardModel.load(model_dir, dtype="float32")
    expected = rm.score_pairs(pairs, max_length=8, progress=False)
    assert [r["id"] for r in rows] == [p.id for p in pairs]
    assert [(r["score_chosen"], r["score_rejected"]) for r in rows] == [pytest.approx(e, abs=1e-5) for e in expected]
    assert [r["truncated"] for r in rows] == [True, False]
