"""Feature cache, probe fitting and probe export, on a tiny random Llama in fp32 (exact)."""

import random

import numpy as np
import pytest
import torch

from rewardkit.data.io import write_pairs
from rewardkit.errors import UserError
from rewardkit.probing.probe import ProbeOptions, fit_probe, pair_accuracy
from tiny_models import toy_pairs  # `tiny` (the saved ChatML Llama) comes from conftest.py


@pytest.fixture
def data(tmp_path):
    path = tmp_path / "pairs.jsonl"
    write_pairs(path, toy_pairs(40, seed=5))
    return path


def features_cfg(tiny, data, **over):
    from rewardkit.probing.cache import FeaturesConfig

    return FeaturesConfig(**{"model": str(tiny), "data": [f"pairs:{data}"], "dtype": "float32", "max_length": 96, **over})


def test_last_feature_is_what_the_score_head_reads(tiny):
    """The `last` feature of a row, fed to the model's head, is forward_scores' score of that row, and the
    mean is the plain average of the real tokens' final states (checked on one unpadded row by hand)."""
    from rewardkit.models.loading import forward_scores, load_reward_model
    from rewardkit.probing.features import pooled_features

    model, tok = load_reward_model(str(tiny), dtype="float32", seed=0)
    rows = [[5, 6, 7, 8, 9, 10, 11], [12, 13], [14, 15, 16, 17]]
    feats = pooled_features(model, rows, tok.pad_token_id, batch_tokens=64)
    for i, r in enumerate(rows):
        ids = torch.tensor([r])
        want = forward_scores(model, ids, torch.ones_like(ids)).item()
        got = model.score(torch.from_numpy(feats["last"][i]))[0].item()
        assert got == pytest.approx(want, abs=1e-5)
        with torch.no_grad():
            hidden = model.model(input_ids=ids).last_hidden_state[0]
        np.testing.assert_allclose(feats["mean"][i], hidden.mean(0).numpy(), atol=1e-5)


def test_cache_is_reused_when_current_and_rebuilt_when_data_or_settings_change(tiny, data, tmp_path):
    from rewardkit.probing.cache import build_features

    out, said = tmp_path / "cache", []
    first = build_features(features_cfg(tiny, data), out, log=said.append)
    assert first.array("last").shape == (40, 2, 32) and len(first.pairs) == 40
    key, first_last = first.manifest["key"], np.array(first.array("last"))
    (out / "notes.txt").write_text("mine")  # a user's file in the cache: reusing keeps it
    again = build_features(features_cfg(tiny, data), out, log=said.append)
    assert again.manifest["key"] == key and (out / "notes.txt").exists() and "reused" in said[-1]
    with pytest.raises(UserError, match="holds notes.txt, which rewardkit did not write"):  # a rebuild would remove it
        build_features(features_cfg(tiny, data, max_length=24), out, log=said.append)
    assert (out / "notes.txt").read_text() == "mine" and np.array_equal(np.load(out / "last.npy"), first_last)
    (out / "notes.txt").unlink()

    build_features(features_cfg(tiny, data, layers=[1]), out, log=said.append)  # layer1.npy: only this build has it
    shorter = build_features(features_cfg(tiny, data, max_length=24), out, log=said.append)  # truncation
    assert shorter.manifest["key"] != key and not (out / "layer1.npy").exists() and "rebuilding" in said[-2]
    write_pairs(data, toy_pairs(40, seed=6))  # same file name, other pairs
    other = build_features(features_cfg(tiny, data), out, log=said.append)
    assert other.manifest["key"] not in (key, shorter.manifest["key"])
    assert not np.array_equal(other.array("last"), first_last)


def test_cache_key_changes_with_the_weights(tiny):
    from rewardkit.models.loading import load_reward_model
    from rewardkit.probing.cache import model_fingerprint

    model, _ = load_reward_model(str(tiny), dtype="float32", seed=0)
    before = model_fingerprint(model)
    with torch.no_grad():
        model.model.layers[0].mlp.up_proj.weight[0, 0] += 1e-3
    assert model_fingerprint(model) != before


def test_probe_learns_a_linear_preference_and_folds_the_standardization():
    """Chosen features score higher along a hidden direction u; raw features have wildly different
    scales. The fitted weight, on raw features, ranks held-out pairs right; `scores` equals
    the standardized model's reward minus its constant."""
    rng = np.random.default_rng(0)
    scale = np.array([1e-3, 1.0, 1e3, 10.0, 0.1])
    u = np.array([1.0, -2.0, 0.5, 1.0, 3.0]) / scale
    def sample(n):
        base = rng.normal(size=(n, 5)) * scale
        return base + 0.8 * u * scale**2 / np.linalg.norm(u * scale), base
    xc, xr = sample(300)
    vc, vr = sample(200)
    probe, history = fit_probe(xc, xr, ProbeOptions(l2=1e-3), val=(vc, vr))
    assert pair_accuracy(probe.scores(vc), probe.scores(vr)) >= 0.9
    assert history.best_epoch > 0
    # The same probe without standardization (same data) reaches the same ranking direction.
    cos = probe.weight @ u / np.linalg.norm(probe.weight) / np.linalg.norm(u)
    assert cos > 0.9


def test_bt_scale_maximises_the_bradley_terry_likelihood_of_the_margins():
    from rewardkit.probing.probe import bt_scale

    # margins (1, 1, 1, -1): d/ds mean softplus(-s·m) = (-3σ(-s) + σ(s)) / 4 = 0  <=>  e^s = 3
    assert bt_scale(np.array([1.0, 1.0, 1.0, -1.0])) == pytest.approx(np.log(3), abs=1e-9)
    # scaling the margins by c scales the optimum by 1/c: the product s·m is what the likelihood sees
    assert bt_scale(np.array([0.01, 0.01, 0.01, -0.01])) == pytest.approx(100 * np.log(3), rel=1e-9)
    # every pair right: no finite optimum; capped where the largest |s·m| reaches 30
    assert bt_scale(np.array([0.5, 2.0])) == pytest.approx(15.0)
    for bad in (np.zeros(3), np.array([1.0, -2.0])):  # no optimum above 0 (the old fallback: a zero head)
        with pytest.raises(ValueError, match="no better than chance"):
            bt_scale(bad)
    with pytest.raises(ValueError, match="finite"):
        bt_scale(np.array([1.0, np.nan]))


def test_probe_matches_sklearn_logistic_regression_on_differences():
    """BT + L2 with full batch and no standardization is logistic regression without intercept on
    d = x_c − x_r (labels all 1, mirrored to −d with label 0): the same weight as sklearn's."""
    sklearn = pytest.importorskip("sklearn.linear_model")
    rng = np.random.default_rng(1)
    xc, xr = rng.normal(size=(80, 4)) + [0.5, 0, -0.3, 0.2], rng.normal(size=(80, 4))
    l2 = 0.1
    probe, _ = fit_probe(xc, xr, ProbeOptions(l2=l2, standardize=False, lr=0.05, max_epochs=3000, patience=None))
    d = xc - xr
    # sklearn minimises C·Σ log-loss + ½|w|² over 2N mirrored rows = 2N·C·(mean BT) + ½|w|²: C = 1/(2N·l2)
    ref = sklearn.LogisticRegression(C=1 / (2 * len(d) * l2), fit_intercept=False, tol=1e-10, max_iter=10000)
    ref.fit(np.concatenate([d, -d]), np.r_[np.ones(len(d)), np.zeros(len(d))])
    np.testing.assert_allclose(probe.weight, ref.coef_[0], atol=1e-4)


def test_exported_probe_model_scores_equal_the_probe_on_the_same_sequences(tiny, data, tmp_path):
    from transformers import AutoModelForSequenceClassification

    from rewardkit.probing.cache import build_features
    from rewardkit.probing.export import export_probe_model
    from rewardkit.probing.features import pair_rows
    from rewardkit.models.loading import load_reward_model
    from rewardkit.models.tokenization import encode_pair
    from rewardkit.data.io import read_pair_file as read_pairs

    fs = build_features(features_cfg(tiny, data), tmp_path / "cache", log=lambda _: None)
    last = np.asarray(fs.array("last"))
    probe, _ = fit_probe(last[:, 0], last[:, 1], ProbeOptions(l2=0.01, max_epochs=50))
    model_dir = export_probe_model(str(tiny), probe, tmp_path / "model")
    plain = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    _, tok = load_reward_model(str(tiny), dtype="float32")
    rows = pair_rows([encode_pair(tok, p, max_length=96) for p in read_pairs(data)])
    with torch.no_grad():
        got = [plain(input_ids=torch.tensor([r])).logits[0, 0].item() for r in rows[:12]]
    want = probe.scores(last.reshape(-1, last.shape[-1])[:12])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert plain.config.num_labels == 1


def test_other_poolings_do_not_export(tiny):
    from rewardkit.probing.export import export_probe_model
    from rewardkit.probing.probe import Probe

    with pytest.raises(ValueError, match="experiment-only"):
        export_probe_model(str(tiny), Probe(np.zeros(32)), "unused", pooling="mean")


def test_probe_command_reports_heldout_and_exports_a_model(tiny, data, tmp_path):
    from rewardkit.probing.cache import build_features
    from rewardkit.probing.run import ProbeRecipe, run_probe

    build_features(features_cfg(tiny, data), tmp_path / "cache", log=lambda _: None)
    said = []
    result = run_probe(ProbeRecipe(features=[tmp_path / "cache"], val_fraction=0.25, l2=0.01), tmp_path / "out",
                       log=said.append)
    assert result["val_pairs"] == 10 and result["train_pairs"] == 30
    # the held-out cells, by hand: the seeded 10 pairs, the saved weight's margins, the responses' lengths
    from rewardkit.evaluation.heldout import wilson
    from rewardkit.probing.cache import load_cache

    fs = load_cache(tmp_path / "cache")
    order = list(range(40))
    random.Random("split-0").shuffle(order)  # the documented hold-out: seed 0, first round(0.25 x 40)
    held = np.sort(order[:10])
    last, w = np.asarray(fs.array("last"))[held], np.asarray(result["weight"])
    by_hand = {"probe": last[:, 0] @ w - last[:, 1] @ w,
               "length_baseline": [fs.pairs[i]["chosen_chars"] - fs.pairs[i]["rejected_chars"] for i in held]}
    for name, col in by_hand.items():
        right = sum(1.0 if m > 0 else 0.5 if m == 0 else 0.0 for m in col)
        cell = result["heldout"]["all"][name]
        assert cell["pairs"] == 10 and cell["accuracy"] == pytest.approx(right / 10)
        assert cell["ci95"] == pytest.approx(list(wilson(right, 10)))
    assert (tmp_path / "out" / "model" / "model.safetensors").is_file() and "reward model" in said[-1]
    card = (tmp_path / "out" / "model" / "README.md").read_text(encoding="utf-8")  # its model card
    cell = result["heldout"]["all"]["probe"]
    assert f"| all | 10 | {100 * cell['accuracy']:.1f} [{100 * cell['ci95'][0]:.1f}, {100 * cell['ci95'][1]:.1f}] |" in card
    assert "| Total | 30 |" in card and card.startswith("---\nlibrary_name: transformers\n")
    again = run_probe(ProbeRecipe(features=[tmp_path / "cache"], val_fraction=0.25, l2=0.02), tmp_path / "out",
                      log=said.append)  # a rerun replaces the model, its card (written after the export) included
    assert again["weight"] != result["weight"] and (tmp_path / "out" / "model" / "README.md").is_file()
    mean = run_probe(ProbeRecipe(features=[tmp_path / "cache"], pooling="mean"), tmp_path / "mean", log=said.append)
    assert not (tmp_path / "mean" / "model").exists() and mean["heldout"]["all"]["probe"]["pairs"] == 8


def test_probe_val_split_prompt_holds_out_whole_prompts(tiny, tmp_path):
    """40 pairs over 10 prompts (4 each): by prompt, groups are taken until round(0.25 x 40) = 10 pairs are
    held out, so 3 whole prompts = 12 pairs (a pair split holds out exactly 10)."""
    from rewardkit.probing.cache import build_features
    from rewardkit.probing.run import ProbeRecipe, run_probe

    pairs = toy_pairs(40, seed=6)
    for i, p in enumerate(pairs):
        p.prompt = [{"role": "user", "content": f"shared prompt {i % 10}"}]
    path = tmp_path / "pairs.jsonl"
    write_pairs(path, pairs)
    build_features(features_cfg(tiny, path), tmp_path / "cache", log=lambda _: None)
    by_prompt = run_probe(ProbeRecipe(features=[tmp_path / "cache"], val_fraction=0.25, val_split="prompt",
                                      export=False), tmp_path / "p", log=lambda _: None)
    by_pair = run_probe(ProbeRecipe(features=[tmp_path / "cache"], val_fraction=0.25, export=False), tmp_path / "q",
                        log=lambda _: None)
    assert (by_prompt["val_pairs"], by_prompt["train_pairs"]) == (12, 28)
    assert (by_pair["val_pairs"], by_pair["train_pairs"]) == (10, 30)
