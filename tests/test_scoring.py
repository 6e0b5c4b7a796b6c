"""The batched scorer: same numbers as one-at-a-time, in input order, whatever the batching."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from tiny_models import tiny_llama, tiny_tokenizer

from rewardkit.data.batching import pad_right, plan_batches
from rewardkit.data.pairs import PreferencePair
from rewardkit.models.loading import forward_scores
from rewardkit.models.scoring import RewardModel
from rewardkit.models.tokenization import encode_conversation

WORDS = "why is the sky blue because light scatter good bad answer yes no cats dogs".split()


def _convs(n: int) -> list[list[dict]]:
    g = torch.Generator().manual_seed(0)
    out = []
    for i in range(n):
        k = int(torch.randint(1, 12, (1,), generator=g))
        words = [WORDS[int(j)] for j in torch.randint(0, len(WORDS), (k + 2,), generator=g)]
        out.append([{"role": "user", "content": " ".join(words[:2])}, {"role": "assistant", "content": " ".join(words[2:])}])
    return out


def test_plan_batches_by_hand():
    # lengths 5,2,9,3 sorted longest first: 9 (idx 2), 5 (0), 3 (3), 2 (1); budget 12 padded tokens:
    # [9] alone (2 x 9 = 18 > 12); [5, 3] = 2 x 5 = 10, + 2 -> 3 x 5 = 15 > 12; [2] alone.
    assert plan_batches([5, 2, 9, 3], 12) == [[2], [0, 3], [1]]
    assert plan_batches([20, 1], 10) == [[0], [1]]  # over-budget sequence still scored, alone
    assert plan_batches([], 10) == []


def test_pad_right():
    ids, mask = pad_right([[5, 6, 7], [8]], 0)
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0]] and mask.tolist() == [[1, 1, 1], [1, 0, 0]]


def test_score_matches_one_at_a_time_in_input_order_for_any_budget():
    model, tok = tiny_llama(), tiny_tokenizer()
    rm = RewardModel(model, tok)
    convs = _convs(23)
    with torch.no_grad():
        alone = []
        for c in convs:
            ids = encode_conversation(tok, c).ids
            alone.append(forward_scores(model, torch.tensor([ids]), torch.ones(1, len(ids), dtype=torch.long)).item())
    for budget in (1, 40, 10_000):
        assert rm.score(convs, batch_tokens=budget, progress=False) == pytest.approx(alone, abs=1e-5)
    assert rm.truncated == 0
    rm.score(convs, max_length=6, progress=False)
    assert rm.truncated == sum(len(encode_conversation(tok, c).ids) > 6 for c in convs) > 0


def test_pad_to_multiple_keeps_the_scores_and_plans_the_budget_on_padded_widths(monkeypatch):
    import rewardkit.models.scoring as scoring

    model, tok = tiny_llama(), tiny_tokenizer()
    rm = RewardModel(model, tok)
    convs = _convs(23)
    plain = rm.score(convs, progress=False)
    shapes = []

    def spy(m, ids, mask):
        shapes.append(tuple(ids.shape))
        return forward_scores(m, ids, mask)

    monkeypatch.setattr(scoring, "forward_scores", spy)
    padded = rm.score(convs, batch_tokens=64, pad_to_multiple=8, progress=False)
    assert padded == pytest.approx(plain, abs=1e-5)  # padding is masked: fp32 scores unchanged
    assert all(width % 8 == 0 for _, width in shapes)
    # the budget holds for the padded widths (a lone over-budget row aside), not just the raw lengths
    assert all(rows * width <= 64 for rows, width in shapes if rows > 1)
    lengths = [len(encode_conversation(tok, c).ids) for c in convs]
    assert sum(rows for rows, _ in shapes) == len(convs) and max(w for _, w in shapes) == -(-max(lengths) // 8) * 8


def test_score_pairs_and_truncation_count():
    rm = RewardModel(tiny_llama(), tiny_tokenizer())
    pairs = [PreferencePair([{"role": "user", "content": "why is the sky blue"}], "because light scatter", "no", "t"),
             PreferencePair([{"role": "user", "content": "hello"}], "yes", "no", "t")]
    got = rm.score_pairs(pairs, progress=False)
    flat = rm.score([c for p in pairs for c in (p.chosen_conversation(), p.rejected_conversation())], progress=False)
    assert got == [(flat[0], flat[1]), (flat[2], flat[3])] and rm.truncated == 0
    rm.score_pairs(pairs, max_length=8, progress=False)  # pair 0 has 13 tokens, pair 1 has 7
    assert rm.truncated == 1


SCRIPT = """
import json, sys
sys.path.insert(0, {tests!r})
import torch.distributed as dist
from accelerate import Accelerator
from tiny_models import tiny_llama, tiny_tokenizer
from test_scoring import _convs
from rewardkit.models.scoring import RewardModel, score_distributed
acc = Accelerator(cpu=True)
scores = score_distributed(RewardModel(tiny_llama(), tiny_tokenizer()), _convs(9), acc, progress=False)
out = {{"world": dist.get_world_size(), "rank": acc.process_index, "type": str(acc.distributed_type), "scores": scores}}
open({out!r} + str(acc.process_index), "w").write(json.dumps(out))
acc.wait_for_everyone()
acc.end_training()  # destroys the gloo group; without it a rank can abort at exit while the other tears down
"""


@pytest.mark.slow
def test_two_process_scoring_gathers_all_scores_in_order(tmp_path):
    script = tmp_path / "score2.py"
    script.write_text(SCRIPT.format(tests=str(Path(__file__).parent), out=str(tmp_path / "out")))
    env = {**os.environ, "ACCELERATE_USE_CPU": "true", "OMP_NUM_THREADS": "1"}
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(script)]
    run = subprocess.run(torchrun, env=env, capture_output=True, text=True, timeout=240)
    outputs = [tmp_path / f"out{r}" for r in (0, 1)]
    # Both ranks write their result before the gloo teardown. During development ~1 run in 11 aborted in
    # that teardown, after the results were complete; what is under test is the gathered scores below.
    assert run.returncode == 0 or all(p.is_file() for p in outputs), run.stderr[-3000:]
    results = [json.loads(p.read_text()) for p in outputs]
    assert [r["world"] for r in results] == [2, 2] and {r["rank"] for r in results} == {0, 1}
    assert "MULTI_CPU" in results[0]["type"]
    single = RewardModel(tiny_llama(), tiny_tokenizer()).score(_convs(9), progress=False)
    assert results[0]["scores"] == results[1]["scores"]
    assert results[0]["scores"] == pytest.approx(single, abs=1e-5)
