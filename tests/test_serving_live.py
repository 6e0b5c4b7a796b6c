"""Against a live server on 127.0.0.1: `RewardClient` as a real TRL GRPO reward function, `rewardkit
serve` answering an in-flight request through SIGTERM, and the exported model's config for vLLM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import httpx
import pytest
from serving_live import free_port, live_server
from tiny_models import save_tiny, tiny_llama, tiny_tokenizer

from rewardkit.models.scoring import RewardModel
from rewardkit.serving.app import create_app
from rewardkit.serving.client import RewardClient, conversation
from rewardkit.serving.config import ServeConfig
from rewardkit.serving.export import vllm_config_problems

PROMPTS = ["why is the sky blue", "hello"]
COMPLETIONS = ["because light scatter", "yes"]


@pytest.fixture()
def scorer():
    return RewardModel(tiny_llama(), tiny_tokenizer())


def test_client_called_the_way_trl_calls_a_reward_function(scorer):
    """TRL passes prompts=, completions=, completion_ids= and every dataset column plus trainer hooks as
    keywords, and wants one float per completion; plain and conversational forms score alike."""
    from trl.trainer.utils import get_callable_name, is_async_callable

    client = RewardClient("http://unused")
    assert get_callable_name(client) == "rewardkit" and not is_async_callable(client)
    convs = [conversation(p, c) for p, c in zip(PROMPTS, COMPLETIONS)]
    expected = scorer.score(convs, pad_to_multiple=ServeConfig().pad_to_multiple, progress=False)  # server shapes
    with live_server(create_app(ServeConfig(api_key="k"), scorer, environ={})) as url:
        client = RewardClient(url, api_key="k", max_per_request=1)  # two requests: chunking keeps order
        plain = client(prompts=PROMPTS, completions=COMPLETIONS, completion_ids=[[1], [2]], trainer_state=None,
                       log_extra=lambda *a: None, log_metric=lambda *a: None, answer=["x", "y"])
        chat = client(prompts=[[{"role": "user", "content": p}] for p in PROMPTS],
                      completions=[[{"role": "assistant", "content": c}] for c in COMPLETIONS])
        texts = client.get_reward([scorer.tokenizer.apply_chat_template(c, tokenize=False) for c in convs])
        with pytest.raises(RuntimeError, match="answered 401: missing or wrong API key"):
            RewardClient(url, api_key="nope").score(convs)
    # max_per_request=1 scores each completion as a batch of one; get_reward (unchunked) and the expectation
    # score both as a batch of two. The two shapes' kernels may differ in the last fp32 digits (AVX-512
    # without AMX: 1.5e-8 apart), so a tight tolerance, not equality.
    assert plain == chat and all(isinstance(x, float) for x in plain)
    assert plain == pytest.approx(expected, abs=1e-6) and texts == pytest.approx(expected, abs=1e-6)


@pytest.mark.slow
def test_client_as_reward_function_of_a_real_grpo_trainer(scorer, tmp_path):
    """One GRPO step with a tiny policy: TRL's logged reward mean is the mean of the server's scores of
    exactly the completions it generated."""
    from datasets import Dataset
    from transformers import LlamaForCausalLM
    from trl import GRPOConfig, GRPOTrainer

    seen = []

    class Recording(RewardClient):
        def __call__(self, prompts, completions, **kwargs):
            seen.append((prompts, completions, super().__call__(prompts, completions, **kwargs)))
            return seen[-1][2]

    dataset = Dataset.from_list([{"prompt": [{"role": "user", "content": p}]} for p in PROMPTS])
    args = GRPOConfig(output_dir=str(tmp_path), max_steps=1, per_device_train_batch_size=2, num_generations=2,
                      max_completion_length=4, report_to=[], use_cpu=True, logging_steps=1, save_strategy="no",
                      bf16=False)
    with live_server(create_app(ServeConfig(), scorer, environ={})) as url:
        trainer = GRPOTrainer(model=LlamaForCausalLM(tiny_llama().config), reward_funcs=[Recording(url)], args=args,
                              train_dataset=dataset, processing_class=tiny_tokenizer())
        trainer.train()
    (prompts, completions, rewards), = seen
    assert rewards == pytest.approx(scorer.score([p + c for p, c in zip(prompts, completions)], progress=False), abs=1e-6)
    logged = trainer.state.log_history[0]["rewards/rewardkit/mean"]
    assert logged == pytest.approx(sum(rewards) / len(rewards), abs=1e-5)


@pytest.mark.slow
def test_sigterm_answers_the_request_in_flight_then_exits(tmp_path):
    model_dir = save_tiny(tiny_llama(), tiny_tokenizer(), tmp_path / "model")
    port = free_port()
    # max_wait 2 s: the request sits in the batcher's window when SIGTERM arrives
    cmd = [sys.executable, "-m", "rewardkit.cli", "serve", "--model", str(model_dir), "--dtype", "float32",
           "--port", str(port), "--max-wait-ms", "2000", "--no-access-log"]
    env = {k: v for k, v in os.environ.items() if k != "REWARDKIT_API_KEY"}  # open: no key
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, proc)
        answer = {}
        body = {"conversations": [[{"role": "user", "content": p}, {"role": "assistant", "content": c}]
                                  for p, c in zip(PROMPTS, COMPLETIONS)]}
        sender = threading.Thread(target=lambda: answer.setdefault("res", httpx.post(f"{url}/score", json=body, timeout=30)))
        sender.start()
        while "rewardkit_scoring_in_flight 1.0" not in httpx.get(f"{url}/metrics").text:  # received, unanswered
            assert sender.is_alive(), "answered before SIGTERM: lengthen --max-wait-ms"
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        sender.join(60)
        # uvicorn re-raises the signal after its graceful shutdown, so the exit status says SIGTERM
        assert proc.wait(60) in (0, -signal.SIGTERM)
        log = proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "Application shutdown complete" in log  # the lifespan ran: the queue was drained, not dropped
    expected = RewardModel.load(model_dir, dtype="float32").score(body["conversations"], progress=False)
    assert answer["res"].status_code == 200
    assert answer["res"].json()["scores"] == pytest.approx(expected, abs=1e-6)


def _wait_ready(url: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 600  # imports + load: ~10 s idle, minutes on a saturated machine
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited: {proc.stderr.read()}")
        try:
            if httpx.get(f"{url}/ready", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("server not ready within 600 s")


def test_exported_model_config_has_what_vllm_needs(tmp_path):
    """export_model's output (what `rewardkit train` writes) is servable by vLLM's reward/classify task:
    a *ForSequenceClassification architecture, one label, and a pad id distinct from EOS."""
    from accelerate import Accelerator
    from torch import nn

    from rewardkit.models.loading import ensure_pad_token
    from rewardkit.training.loop import export_model

    model, tok = tiny_llama(), tiny_tokenizer(pad="</s>")  # pad == EOS, as SmolLM2 ships
    ensure_pad_token(model, tok)
    wrapper = nn.Module()
    wrapper.model = model
    out = export_model(Accelerator(cpu=True), wrapper, tok, tmp_path / "model")
    config = json.loads((out / "config.json").read_text())
    assert vllm_config_problems(config) == []
    assert config["architectures"] == ["LlamaForSequenceClassification"] and config["pad_token_id"] == tok.pad_token_id
    broken = {**config, "architectures": ["LlamaForCausalLM"], "id2label": {"0": "a", "1": "b"}, "pad_token_id": 2}
    assert vllm_config_problems(broken) == [
        "architectures is ['LlamaForCausalLM'], not one *ForSequenceClassification class",
        "2 labels (id2label), not 1: the reward is one number",
        "pad_token_id 2 equals eos_token_id: the last real token is ambiguous",
    ]
