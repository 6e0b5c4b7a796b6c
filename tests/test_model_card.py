"""Model cards: an exported model directory carries a README.md in Hugging Face's format whose metadata and
tables come from the run, whose usage snippet scores with transformers alone as rewardkit does, and which
`rewardkit evaluate` on that directory updates."""

from __future__ import annotations

import json

import pytest
import torch
import yaml
from typer.testing import CliRunner

from tiny_models import toy_pairs


def card_metadata(path) -> dict:
    """The card's YAML metadata as the hub reads it (huggingface_hub's ModelCard; plain YAML without it)."""
    try:
        from huggingface_hub import ModelCard
    except ImportError:
        text = path.read_text(encoding="utf-8")
        return yaml.safe_load(text.split("---\n")[1])
    return ModelCard.load(path).data.to_dict()


@pytest.fixture(scope="module")
def trained(tiny, tmp_path_factory):
    """An LP-FT run on toy pairs of two hub-named sources, with the probe model exported too."""
    from rewardkit.training import TrainConfig, train_from_config

    train, val = toy_pairs(32, seed=60), toy_pairs(16, seed=61)
    for i, p in enumerate(train + val):
        p.source = "nvidia/HelpSteer2" if i % 4 else "Anthropic/hh-rlhf"
    cfg = TrainConfig(model=str(tiny), global_batch_size=8, micro_batch_size=8, lr=3e-3, max_steps=2, max_length=96,
                      eval_every=2, save_every=100, bf16=False, seed=1, head_init="probe", export_probe_model=True,
                      train_top_k_layers=1)
    run = tmp_path_factory.mktemp("card") / "run"
    train_from_config(cfg, run, train_pairs=train, val_pairs=val)
    return run, train, val


def test_an_exported_model_has_a_hub_card_with_its_data_and_held_out_numbers(trained):
    run, train, _ = trained
    card = run / "model" / "README.md"
    meta = card_metadata(card)
    assert meta["library_name"] == "transformers" and meta["pipeline_tag"] == "text-classification"
    assert "reward-model" in meta["tags"]
    assert meta["datasets"] == ["Anthropic/hh-rlhf", "nvidia/HelpSteer2"]  # the training pairs' sources
    assert "base_model" not in meta  # a local test backbone has no hub id to name
    text = card.read_text(encoding="utf-8")
    n_hh = sum(p.source == "Anthropic/hh-rlhf" for p in train)
    assert f"| Anthropic/hh-rlhf | {n_hh} |" in text and f"| nvidia/HelpSteer2 | {len(train) - n_hh} |" in text
    assert f"| Total | {len(train)} |" in text
    summary = json.loads((run / "summary.json").read_text())
    row = summary["heldout"]["all"]
    cell = lambda c: f"{100 * c['accuracy']:.1f} [{100 * c['ci95'][0]:.1f}, {100 * c['ci95'][1]:.1f}]"  # noqa: E731
    assert f"| all | 16 | {cell(row['model'])} | {cell(row['probe'])} | {cell(row['length_baseline'])} |" in text
    assert "head_init: probe" in text  # the resolved recipe
    assert "arXiv:2410.18451" in text and "not checked against a benchmark" in text
    probe_text = (run / "probe_model" / "README.md").read_text(encoding="utf-8")
    assert f"| all | 16 | {cell(row['probe'])} | {cell(row['length_baseline'])} |" in probe_text
    assert card_metadata(run / "probe_model" / "README.md")["datasets"] == meta["datasets"]


def test_the_cards_snippet_scores_with_transformers_alone_as_rewardkit_does(trained):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from rewardkit.models.scoring import RewardModel

    run, _, val = trained
    text = (run / "model" / "README.md").read_text(encoding="utf-8")
    snippet = text.split("```python\n")[1].split("```")[0]
    assert "AutoModelForSequenceClassification" in snippet and str(run / "model") in snippet
    scope: dict = {}
    exec(snippet, scope)  # the card's code, as a user would paste it
    conversation = scope["conversation"]
    expected = RewardModel.load(str(run / "model"), dtype="float32").score([conversation], progress=False)[0]
    assert scope["reward"] == pytest.approx(expected, abs=1e-5)
    tok = AutoTokenizer.from_pretrained(run / "model")
    model = AutoModelForSequenceClassification.from_pretrained(run / "model").eval()
    conv = val[0].chosen_conversation()
    with torch.no_grad():
        plain = model(**tok.apply_chat_template(conv, return_tensors="pt", return_dict=True)).logits[0, 0].item()
    assert plain == pytest.approx(RewardModel.load(str(run / "model"), dtype="float32").score([conv], progress=False)[0],
                                  abs=1e-5)


def test_evaluate_on_the_model_updates_its_card_and_leaves_other_models_alone(trained, tmp_path):
    from rewardkit.cli import app
    from rewardkit.data.io import write_jsonl_atomic

    run, _, _ = trained
    rows = [{"id": i, "subset": s, "prompt": "why is the sky blue", "chosen": "the cat sat", "rejected": "dogs ran"}
            for i, s in enumerate(["alpacaeval-easy", "alpacaeval-easy", "llmbar-natural"])]
    write_jsonl_atomic(tmp_path / "rb.jsonl", rows)
    spec = f"rewardbench:{tmp_path / 'rb.jsonl'}"
    model = str(run / "model")
    for out in ("e1", "e2"):  # the same data twice: one entry, the later one
        res = CliRunner().invoke(app, ["evaluate", "--model", model, "--data", spec, "--out", str(tmp_path / out),
                                       "--dtype", "float32", "--max-length", "64"])
        assert res.exit_code == 0, res.output
    results = json.loads((tmp_path / "e2" / "results.json").read_text())
    text = (run / "model" / "README.md").read_text(encoding="utf-8")
    assert text.count(f"### {spec}") == 1 and str(tmp_path / "e2" / "results.json") in text
    chat = results["table2"]["Chat"]
    assert f"| {chat:.1f} |" in text and "| alpacaeval-easy | 2 |" in text and "| llmbar-natural | 1 |" in text
    assert "Held-out pairs" in text  # the training facts stay
    facts = json.loads((run / "model" / "rewardkit.json").read_text())
    assert list(facts["evaluations"]) == [spec]
    # a directory rewardkit did not export gets no card written into it
    from tiny_models import tiny_llama, tiny_tokenizer

    other = tmp_path / "other"
    tiny_llama().save_pretrained(other)
    tiny_tokenizer().save_pretrained(other)
    res = CliRunner().invoke(app, ["evaluate", "--model", str(other), "--data", spec, "--out", str(tmp_path / "e3"),
                                   "--dtype", "float32", "--max-length", "64"])
    assert res.exit_code == 0, res.output
    assert not (other / "README.md").exists()
