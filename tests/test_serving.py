"""The HTTP server with a tiny fp32 model: scores equal offline scoring, batching across clients, the
OpenRLHF protocol (one BOS), metrics, access logs; and `rewardkit score`."""

from __future__ import annotations

import json
import logging
import random
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from fastapi.testclient import TestClient
from serving_live import live_server
from tiny_models import VOCAB, WORDS, save_tiny, tiny_bert, tiny_llama, tiny_tokenizer
from typer.testing import CliRunner

from rewardkit.cli import app as cli_app
from rewardkit.data.pairs import PreferencePair
from rewardkit.models.scoring import RewardModel
from rewardkit.models.tokenization import encode_conversation, encode_text, render
from rewardkit.serving.app import create_app
from rewardkit.serving.config import ServeConfig

CONVS = [[{"role": "user", "content": "why is the sky blue"}, {"role": "assistant", "content": "because light scatter"}],
         [{"role": "user", "content": "hello"}, {"role": "assistant", "content": "yes"}]]


def varied_conversations(n: int, seed: int = 0) -> list[list[dict]]:
    """`n` conversations of 1-40 words per turn, some with a system turn: many different lengths."""
    rng = random.Random(seed)
    words = lambda: " ".join(rng.choices(WORDS, k=rng.randint(1, 40)))  # noqa: E731
    convs = []
    for _ in range(n):
        turns = [{"role": "system", "content": words()}] if rng.random() < 0.3 else []
        convs.append([*turns, {"role": "user", "content": words()}, {"role": "assistant", "content": words()}])
    return convs


@pytest.fixture()
def scorer():
    return RewardModel(tiny_llama(), tiny_tokenizer())


def test_score_endpoint_returns_the_scorer_numbers_in_order(scorer):
    cfg = ServeConfig()
    client = TestClient(create_app(cfg, scorer))
    expected = scorer.score(CONVS, pad_to_multiple=cfg.pad_to_multiple, progress=False)  # the server's shapes
    res = client.post("/score", json={"conversations": CONVS})
    assert res.status_code == 200 and res.json()["truncated"] == 0
    assert res.json()["scores"] == pytest.approx(expected, abs=1e-6)
    res = client.post("/score", json={"conversations": CONVS[::-1], "max_length": 8})
    cut = scorer.score(CONVS[::-1], max_length=8, pad_to_multiple=cfg.pad_to_multiple, progress=False)
    assert res.json()["truncated"] == 1  # the 13-token conversation, cut to 8
    assert res.json()["scores"] == pytest.approx(cut, abs=1e-6)
    assert cut[1] != pytest.approx(expected[0], abs=1e-6)  # and cutting does change its score
    assert client.get("/health").json() == {"status": "ok"}


def test_concurrent_clients_are_batched_together_and_each_gets_its_own_scores(scorer):
    """48 conversations from 16 concurrent clients (1-5 per request): every score equals offline scoring
    of that conversation alone (fp32), and the worker really scored requests together."""
    convs = varied_conversations(48)
    offline = [scorer.score([c], progress=False)[0] for c in convs]  # batch of one: no padding at all
    rng = random.Random(1)
    cuts = sorted(rng.sample(range(1, 48), 15))
    requests = [convs[a:b] for a, b in zip([0, *cuts], [*cuts, 48])]
    app = create_app(ServeConfig(max_wait_ms=50, batch_tokens=4096), scorer)
    with live_server(app) as url, httpx.Client(base_url=url) as http:
        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(lambda r: http.post("/score", json={"conversations": r}), requests))
        metrics = http.get("/metrics").text
    got = [s for a in answers for s in a.json()["scores"]]
    assert all(a.status_code == 200 for a in answers)
    assert got == pytest.approx(offline, abs=2e-6)
    batches = _metric(metrics, "rewardkit_batch_conversations_count")
    assert batches < len(requests)  # fewer forwards than requests: requests shared batches
    assert _metric(metrics, "rewardkit_batch_conversations_sum") == 48
    tokens = sum(len(encode_conversation(scorer.tokenizer, c).ids) for c in convs)
    assert _metric(metrics, "rewardkit_tokens_total") == tokens


def _metric(text: str, name: str, labels: str = "") -> float:
    line = next(x for x in text.splitlines() if x.startswith(name + labels + " "))
    return float(line.rsplit(" ", 1)[1])


@pytest.mark.parametrize("template_bos", [True, False])
def test_get_reward_scores_templated_text_like_the_conversation_with_one_bos(template_bos):
    """OpenRLHF sends chat-templated text. Whether the template wrote BOS or not, the server adds the
    tokenizer's BOS only where missing: the ids, and so the scores, equal the conversation's."""
    tok = tiny_tokenizer(template_bos=template_bos)
    rm = RewardModel(tiny_llama(), tok)
    texts = [render(tok, c) for c in CONVS]
    for text, conv in zip(texts, CONVS):
        ids = encode_text(tok, text).ids
        assert ids == encode_conversation(tok, conv).ids and ids.count(VOCAB["<s>"]) == 1
    cfg = ServeConfig()
    client = TestClient(create_app(cfg, rm))
    res = client.post("/get_reward", json={"query": texts, "prompts": ["p", "p"], "labels": [None, None]})
    expected = rm.score(CONVS, pad_to_multiple=cfg.pad_to_multiple, progress=False)
    assert res.status_code == 200 and res.json() == {"rewards": expected, "scores": expected}


def test_encode_text_truncation_keeps_the_bos_and_the_end():
    tok = tiny_tokenizer()
    full = encode_text(tok, render(tok, CONVS[0])).ids  # <s> <|user|> why is the sky blue <|end|> ...
    cut = encode_text(tok, render(tok, CONVS[0]), max_length=6)
    assert cut.truncated and cut.ids == [VOCAB["<s>"], *full[-5:]]
    assert not encode_text(tok, "hello", max_length=6).truncated


def test_bert_server_scores_like_offline():
    """A model without a chat template ([CLS] ... [SEP], pooled readout) through both routes."""
    rm = RewardModel(tiny_bert(), tiny_tokenizer(bert=True))
    client = TestClient(create_app(ServeConfig(), rm))
    expected = rm.score(CONVS, progress=False)
    assert client.post("/score", json={"conversations": CONVS}).json()["scores"] == pytest.approx(expected, abs=1e-6)
    texts = [render(rm.tokenizer, c) for c in CONVS]
    assert client.post("/get_reward", json={"query": texts}).json()["rewards"] == pytest.approx(expected, abs=1e-6)


def test_metrics_count_requests_by_status_and_access_log_is_json(scorer, caplog):
    client = TestClient(create_app(ServeConfig(), scorer))
    with caplog.at_level(logging.INFO, logger="rewardkit.serving.access"):
        client.post("/score", json={"conversations": CONVS})
        client.post("/score", json={"conversations": []})
        client.get("/nowhere")
    text = client.get("/metrics").text
    assert _metric(text, "rewardkit_requests_total", '{route="/score",status="200"}') == 1
    assert _metric(text, "rewardkit_requests_total", '{route="/score",status="422"}') == 1
    assert _metric(text, "rewardkit_requests_total", '{route="other",status="404"}') == 1
    assert _metric(text, "rewardkit_queue_conversations") == 0
    # The /metrics read above is logged too, but may land after this point (the access line is written
    # once the response is sent): leave it out so the test does not race the server.
    logs = [json.loads(r.message) for r in caplog.records if r.name == "rewardkit.serving.access"]
    logs = [x for x in logs if x["path"] != "/metrics"]
    assert [(x["method"], x["path"], x["status"]) for x in logs] == [
        ("POST", "/score", 200), ("POST", "/score", 422), ("GET", "/nowhere", 404)]
    assert all(x["ms"] >= 0 and x["client"] for x in logs)


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
