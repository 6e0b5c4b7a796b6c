"""Every limit and auth path answers a clear 4xx/503/504 naming what was wrong, and the server still
scores correctly afterwards."""

from __future__ import annotations

import threading
import time

import httpx
import pytest
from fastapi.testclient import TestClient
from serving_live import live_server
from tiny_models import tiny_llama, tiny_tokenizer

from rewardkit.models.scoring import RewardModel
from rewardkit.serving.app import create_app
from rewardkit.serving.config import API_KEY_ENV, ServeConfig

CONV = [{"role": "user", "content": "hello"}, {"role": "assistant", "content": "yes"}]


class GatedModel(RewardModel):
    """A RewardModel whose forward waits at a gate, so a test can hold the worker busy."""

    def __init__(self, *args, delay: float = 0.0):
        super().__init__(*args)
        self.gate, self.entered, self.delay = threading.Event(), threading.Event(), delay
        self.gate.set()

    def score_ids(self, rows, **kw):
        self.entered.set()
        self.gate.wait(10)
        time.sleep(self.delay)
        return super().score_ids(rows, **kw)


@pytest.fixture()
def scorer():
    return RewardModel(tiny_llama(), tiny_tokenizer())


SERVED_PAD = ServeConfig().pad_to_multiple  # offline scores compared exactly use the server's padded shapes


def client_for(scorer, **settings) -> TestClient:
    return TestClient(create_app(ServeConfig(**settings), scorer, environ={}))


def test_api_key_is_required_everywhere_but_health_and_ready(scorer):
    client = client_for(scorer, api_key="s3cret")
    body = {"conversations": [CONV]}
    for headers in ({}, {"X-API-Key": "wrong"}, {"Authorization": "Bearer s3cre"}, {"Authorization": "s3cret"}):
        res = client.post("/score", json=body, headers=headers)
        assert res.status_code == 401 and "API key" in res.json()["detail"]
        assert res.headers["www-authenticate"] == "Bearer"
    assert client.get("/metrics").status_code == 401
    assert client.post("/get_reward", json={"query": ["hello"]}).status_code == 401
    assert client.post("/score", json=body, headers={"X-API-Key": "s3cret"}).status_code == 200
    assert client.post("/score", json=body, headers={"Authorization": "Bearer s3cret"}).status_code == 200
    assert client.get("/health").status_code == 200 and client.get("/ready").status_code == 200


def test_api_key_comes_from_the_environment_when_not_given(scorer):
    client = TestClient(create_app(ServeConfig(), scorer, environ={API_KEY_ENV: "from-env"}))
    assert client.post("/score", json={"conversations": [CONV]}).status_code == 401
    assert client.post("/score", json={"conversations": [CONV]}, headers={"X-API-Key": "from-env"}).status_code == 200
    assert ServeConfig(api_key="flag").resolved_api_key({API_KEY_ENV: "env"}) == "flag"


@pytest.mark.parametrize("given, env, refused", [
    ("", {}, "--api-key: the API key is empty"),
    (None, {API_KEY_ENV: ""}, f"{API_KEY_ENV}: the API key is empty"),
    ("clé", {}, "--api-key: the API key must be printable ASCII without spaces"),
    (None, {API_KEY_ENV: "two words"}, f"{API_KEY_ENV}: the API key must be printable ASCII"),
    (None, {API_KEY_ENV: "tab\t"}, f"{API_KEY_ENV}: the API key must be printable ASCII"),
])
def test_a_key_no_request_could_send_is_refused_at_start(scorer, given, env, refused):
    from rewardkit.errors import UserError

    with pytest.raises(UserError, match=refused):
        create_app(ServeConfig(api_key=given), scorer, environ=env)


def test_the_server_says_whether_auth_is_on():
    assert ServeConfig().auth_line({}).startswith(f"API key: none (no --api-key, no {API_KEY_ENV}): every route is open")
    assert ServeConfig().auth_line({API_KEY_ENV: "k"}) == (
        f"API key: required on every route but /health and /ready (from {API_KEY_ENV})")
    assert ServeConfig(api_key="k").auth_line({API_KEY_ENV: "x"}).endswith("(from --api-key)")


def test_a_request_max_length_below_the_chat_template_is_refused(scorer):
    client = client_for(scorer)
    res = client.post("/score", json={"conversations": [CONV], "max_length": 3})
    # the tiny template takes 5 tokens around an empty prompt and reply (tests/test_bad_input.py)
    assert res.status_code == 422 and res.json()["detail"].startswith("'max_length' 3 leaves no response token")
    assert "takes 5 tokens" in res.json()["detail"]
    assert client.post("/score", json={"conversations": [CONV], "max_length": 6}).status_code == 200


def test_body_size_limit_by_header_and_while_streaming(scorer):
    client = client_for(scorer, max_body_bytes=1000)
    res = client.post("/score", content=b"x" * 1001, headers={"content-type": "application/json"})
    assert res.status_code == 413 and res.json()["detail"] == "request body of 1001 bytes exceeds max_body_bytes=1000"
    chunks = iter([b'{"conversations": [', b" " * 600, b" " * 600])  # chunked: no Content-Length
    res = client.post("/score", content=chunks)
    assert res.status_code == 413 and "max_body_bytes=1000" in res.json()["detail"]


BAD = [
    (b'{"conversations": [', 400, "not valid JSON: Expecting value at line 1 column 20"),
    (b"[" * 100_000, 400, "JSON nested too deeply"),
    (b'{"conversations": "\xff"}', 400, "not valid UTF-8 (byte 19)"),
    (b"[1, 2]", 422, "must be a JSON object with 'conversations', got list"),
    (b'{"convs": []}', 422, "unknown field 'convs'"),
    (b"{}", 422, "missing field 'conversations'"),
    (b'{"conversations": []}', 422, "'conversations' must be a non-empty list"),
    (b'{"conversations": [[]]}', 422, "conversations[0]: no messages"),
    (b'{"conversations": [[{"role": "robot", "content": "x"}]]}', 422, "conversations[0]: unknown role (message 0:"),
    (b'{"conversations": [[{"role": "user", "content": 5}]]}', 422, "message is not {role, content} (message 0:"),
    # the one conversation rule (rewardkit.data.conversation), as the readers apply it
    (b'{"conversations": [[{"role": "user", "content": "x"}]]}', 422,
     "conversations[0]: wrong final turn (message 0: the last turn is user's; it must be assistant's)"),
    (b'{"conversations": [[{"role": "user", "content": "x"}, {"role": "assistant", "content": "a"}], '
     b'[{"role": "user", "content": "x"}, {"role": "assistant", "content": "a"}, {"role": "assistant", "content": "b"}]]}',
     422, "conversations[1]: roles do not alternate user/assistant (message 2"),
    (b'{"conversations": [[{"role": "user", "content": "x"}, {"role": "assistant", "content": " "}]]}', 422,
     "conversations[0]: empty turn (message 1"),
    (b'{"conversations": [[{"role": "user", "content": "x"}, {"role": "assistant", "content": "a"}]], "max_length": 0}',
     422, "'max_length' must be a positive"),
    (b'{"conversations": [[{"role": "user", "content": "x"}, {"role": "assistant", "content": "a"}]], "max_length": 1}',
     422, "'max_length' 1 leaves no response token"),
    # half a surrogate pair is valid JSON but not text: no tokenizer takes it
    (b'{"conversations": [[{"role": "user", "content": "x"}, {"role": "assistant", "content": "a\\ud800"}]]}', 400,
     "request body: conversations[0][1].content (character 1): a lone UTF-16 surrogate escape"),
]


@pytest.mark.parametrize("body, status, message", BAD)
def test_bad_score_bodies_get_4xx_naming_the_problem(scorer, body, status, message):
    client = client_for(scorer)
    res = client.post("/score", content=body, headers={"content-type": "application/json"})
    assert res.status_code == status and message in res.json()["detail"]
    scores = client.post("/score", json={"conversations": [CONV]}).json()["scores"]
    assert scores == pytest.approx(scorer.score([CONV], pad_to_multiple=SERVED_PAD), abs=1e-6)


def test_a_conversation_the_chat_template_refuses_is_422():
    """Some templates raise on what they do not support (Gemma-2: a system turn); that is the client's
    input, not a server error."""
    tok = tiny_tokenizer()
    tok.chat_template = ("{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}"
                         "{% endif %}" + tok.chat_template)
    client = TestClient(create_app(ServeConfig(), RewardModel(tiny_llama(), tok), environ={}))
    res = client.post("/score", json={"conversations": [[{"role": "system", "content": "be nice"}, *CONV]]})
    assert res.status_code == 422
    assert res.json()["detail"] == "the model's chat template refused a conversation: System role not supported"
    assert client.post("/score", json={"conversations": [CONV]}).status_code == 200


def test_count_and_length_limits_are_named(scorer):
    client = client_for(scorer, max_conversations=3, max_queue=10, max_message_chars=20)
    res = client.post("/score", json={"conversations": [CONV] * 4})
    assert res.status_code == 413 and res.json()["detail"] == "4 items in 'conversations' exceed max_conversations=3"
    long = [{"role": "user", "content": "a " * 11}, {"role": "assistant", "content": "b"}]
    res = client.post("/score", json={"conversations": [CONV, long]})
    assert res.status_code == 422
    assert res.json()["detail"] == "conversations[1][0].content has 22 characters, over max_message_chars=20"
    res = client.post("/get_reward", json={"query": ["hello"] * 4})
    assert res.status_code == 413 and "max_conversations=3" in res.json()["detail"]
    res = client.post("/get_reward", json={"query": ["hello", "x" * 21]})
    assert res.status_code == 422 and res.json()["detail"] == "query[1] has 21 characters, over max_message_chars=20"
    res = client.post("/get_reward", content=b'{"query": ["hello", "\\udfff"]}')
    assert res.status_code == 400 and res.json()["detail"].startswith("request body: query[1] (character 0): a lone UTF-16")
    res = client.post("/get_reward", json={"query": ["hello", 3]})
    assert res.status_code == 422 and "query[1] must be a non-empty string" in res.json()["detail"]


def test_not_ready_until_loaded_and_a_failed_load_says_why(tmp_path):
    missing = tmp_path / "no-such-model"
    app = create_app(ServeConfig(model=str(missing)), environ={})
    cold = TestClient(app)  # no lifespan: nothing loads
    res = cold.post("/score", json={"conversations": [CONV]})
    assert res.status_code == 503 and res.headers["retry-after"] == "5" and "loading" in res.json()["detail"]
    with TestClient(app) as client:  # lifespan: the load runs in the background, and fails
        deadline = time.monotonic() + 30
        while client.get("/ready").json()["status"] == "loading" and time.monotonic() < deadline:
            time.sleep(0.05)
        ready = client.get("/ready")
        assert ready.status_code == 503 and ready.json()["status"].startswith("failed: ")
        assert client.get("/health").json() == {"status": "ok"}
        assert "failed to load the model" in client.post("/score", json={"conversations": [CONV]}).json()["detail"]


def test_a_full_queue_answers_503_with_retry_after_and_then_recovers():
    model = GatedModel(tiny_llama(), tiny_tokenizer())
    model.gate.clear()
    app = create_app(ServeConfig(max_queue=2, max_conversations=2, max_wait_ms=0), model, environ={})
    with live_server(app) as url, httpx.Client(base_url=url, timeout=30) as http:
        answers = {}

        def post(name, convs):  # in a thread: blocks until the model answers
            answers[name] = http.post("/score", json={"conversations": convs})

        busy = threading.Thread(target=post, args=("busy", [CONV]))
        busy.start()
        assert model.entered.wait(10)  # the worker holds this one: the queue is empty again
        queued = threading.Thread(target=post, args=("queued", [CONV, CONV]))
        queued.start()
        deadline = time.monotonic() + 10
        while app.state.runtime.batcher.pending < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        res = http.post("/score", json={"conversations": [CONV]})
        assert res.status_code == 503 and res.headers["retry-after"] == "1"
        assert res.json()["detail"] == "server busy: the queue holds 2 of max_queue=2 conversations; retry shortly"
        model.gate.set()
        busy.join(10)
        queued.join(10)
        # The busy request ran as a batch of one, the queued one as a batch of two: oneDNN's kernels for the
        # two shapes may round differently in the last fp32 digits (AVX-512 without AMX: 1.5e-8 apart).
        expected = model.score([CONV], pad_to_multiple=SERVED_PAD)[0]
        assert answers["busy"].json()["scores"] == pytest.approx([expected], abs=1e-6)
        assert answers["queued"].json()["scores"] == pytest.approx([expected, expected], abs=1e-6)
        assert http.post("/score", json={"conversations": [CONV]}).status_code == 200


def test_a_request_over_the_timeout_gets_504():
    model = GatedModel(tiny_llama(), tiny_tokenizer(), delay=0.5)
    client = TestClient(create_app(ServeConfig(request_timeout_s=0.1), model, environ={}))
    res = client.post("/score", json={"conversations": [CONV]})
    assert res.status_code == 504 and res.json()["detail"] == "scoring did not finish within request_timeout_s=0.1"


def test_settings_that_contradict_each_other_are_refused():
    with pytest.raises(ValueError, match=r"max_conversations \(600\) exceeds max_queue \(500\)"):
        ServeConfig(max_conversations=600, max_queue=500)
    with pytest.raises(ValueError, match="unknown|Extra inputs"):
        ServeConfig(max_batch=3)


def test_kernel_caches_are_capped_unless_the_environment_says_otherwise():
    from rewardkit.serving.config import ServeConfig, bound_kernel_caches

    env = {"LRU_CACHE_CAPACITY": "7"}
    bound_kernel_caches(ServeConfig().kernel_cache_capacity, env)
    assert env == {"LRU_CACHE_CAPACITY": "7", "ONEDNN_PRIMITIVE_CACHE_CAPACITY": "64"}
    with pytest.raises(ValueError, match="kernel_cache_capacity"):
        ServeConfig(kernel_cache_capacity=0)


@pytest.mark.parametrize("field, value", [("max_queue", 0), ("max_body_bytes", 0), ("max_wait_ms", -1),
                                          ("request_timeout_s", 0), ("batch_overhead_tokens", -1)])
def test_a_bound_is_refused_on_its_own_field(field, value):
    """Field bounds, not a model validator: the error's location is the field, so the CLI names the flag."""
    from pydantic import ValidationError

    from rewardkit.serving.config import ServeConfig

    with pytest.raises(ValidationError) as e:
        ServeConfig(**{field: value})
    assert [err["loc"] for err in e.value.errors()] == [(field,)]


def test_serve_says_at_start_whether_a_key_is_required(tmp_path, monkeypatch, capsys):
    import socket

    import uvicorn

    from rewardkit.serving.app import serve
    from tiny_models import save_tiny

    model = save_tiny(tiny_llama(), tiny_tokenizer(), tmp_path / "model")
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: None)  # everything before listening, then stop
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.delenv(API_KEY_ENV, raising=False)
    serve(ServeConfig(model=str(model), port=port))
    assert "rewardkit serve: API key: none (no --api-key, no REWARDKIT_API_KEY): every route is open" in capsys.readouterr().err
    monkeypatch.setenv(API_KEY_ENV, "k")
    serve(ServeConfig(model=str(model), port=port))
    assert f"API key: required on every route but /health and /ready (from {API_KEY_ENV})" in capsys.readouterr().err
