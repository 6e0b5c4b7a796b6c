"""Bias-targeted pairs (rewardkit.hardpairs): the neighbour band on a hand-built pool, each construction's
defining property, determinism, validity, no held-out text in training, the judge filter, bad specs, the
held-out rows per type and the length-reliance figure."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
from pydantic import ValidationError

from rewardkit.data.pairs import PreferencePair
from rewardkit.data.sources.runner import checked_pair
from rewardkit.data.split import prompt_key, split_pairs
from rewardkit.hardpairs.build import add_item, drop_item, list_items, requested_count
from rewardkit.hardpairs.config import BIAS_TYPES, SOURCE_PREFIX, HardPairsConfig, JudgeConfig
from rewardkit.hardpairs.pool import band_neighbours, entries
from rewardkit.hardpairs.run import candidates, for_split, hard_units


def pair(user, chosen, rejected, sid="0", history=()):
    prompt = [*history, {"role": "user", "content": user}]
    return PreferencePair(prompt=prompt, chosen=chosen, rejected=rejected, source="toy", source_id=sid)


def planted(angles: dict[str, float]):
    """An embedder putting each text on the unit circle at the given angle (degrees): cosine similarity
    is the cosine of the angle between two texts."""
    def embed(texts, model):
        rad = np.radians([angles[t] for t in texts])
        return np.stack([np.cos(rad), np.sin(rad)], axis=1)
    return embed


def uniform(sim: float = 0.7):
    """Every two distinct texts at cosine `sim`: x_i = (√sim, √(1−sim) e_i)."""
    def embed(texts, model):
        out = np.zeros((len(texts), len(texts) + 1))
        out[:, 0] = np.sqrt(sim)
        out[np.arange(len(texts)), np.arange(len(texts)) + 1] = np.sqrt(1 - sim)
        return out
    return embed


# ------------------------------------------------------------------ the band, on a hand-built pool
POOL = [pair("How do I bake bread?", "Knead flour, water, yeast; bake at 220C.", "Buy some.", "a"),
        pair("How do I bake a cake?", "Cream butter and sugar, add eggs and flour, bake at 180C.", "Cake is nice.", "b"),
        pair("how do I bake bread", "Mix, rise, bake.", "No idea.", "c"),           # a duplicate of a
        pair("How do I bake bread at home?", "Use a loaf tin.", "Bread.", "d"),      # too close to a: 0.95
        pair("What is the capital of Peru?", "Lima.", "Paris.", "e")]                # too far from a: 0.1
ANGLES = {"How do I bake bread?": 0.0,                 # a
          "How do I bake a cake?": 45.573,              # b: cos 0.70 with a
          "how do I bake bread": 8.109,                 # c: cos 0.99 with a (and a duplicate), 0.79 with b
          "How do I bake bread at home?": -18.195,      # d: cos 0.95 with a, 0.44 with b
          "What is the capital of Peru?": -84.261}      # e: cos 0.10 with a


def test_band_keeps_the_similar_prompt_and_drops_duplicates_near_duplicates_and_strangers():
    pool = entries(POOL)
    vecs = planted(ANGLES)([e.text for e in pool], "minilm")
    nbrs = band_neighbours(pool, vecs, (0.5, 0.9))
    assert [(j, round(s, 3)) for j, s in nbrs[0]] == [(1, 0.7)]  # c: duplicate text, d: 0.95 > 0.9, e: 0.1 < 0.5
    assert [(j, round(s, 2)) for j, s in nbrs[1]] == [(2, 0.79), (0, 0.7)]  # most similar first; d: 0.44 < 0.5
    assert nbrs[4] == []
    hp = candidates(POOL, HardPairsConfig(band=(0.5, 0.9), types=["neighbour"]), planted(ANGLES))["neighbour"]
    bread = next(u[0] for u in hp if u[0].first_user_turn == "How do I bake bread?")
    assert bread.chosen == POOL[0].chosen and bread.rejected == POOL[1].chosen  # the cake recipe
    assert bread.meta["bias"] == "neighbour" and bread.meta["similarity"] == pytest.approx(0.7, abs=1e-4)
    assert bread.meta["parts"]["rejected"] == {"id": POOL[1].id, "source": "toy", "source_id": "b"}
    assert bread.source == SOURCE_PREFIX + "neighbour" and bread.source_config == "toy"


def test_the_same_dialogue_at_another_depth_is_no_neighbour():
    first = {"role": "user", "content": "Plan a trip to Rome"}
    a = pair("Plan a trip to Rome", "Day 1: the Forum.", "Go.", "1")
    b = pair("And day 2?", "Day 2: the Vatican.", "Rest.", "2", history=[first, {"role": "assistant", "content": "Day 1: the Forum."}])
    pool = entries([a, b])
    assert band_neighbours(pool, uniform(0.7)([e.text for e in pool], ""), (0.5, 0.9)) == [[], []]


def test_best_and_worst_response_of_a_prompt_count_wins_and_losses():
    ps = [pair("q", "A", "B"), pair("q", "A", "C"), pair("q", "B", "C")]  # A: +2, B: 0, C: -2
    (e,) = entries(ps)
    assert (e.best, e.worst) == ("A", "C") and e.best_from is ps[0] and e.worst_from is ps[1]


# ------------------------------------------------------------------ each construction's property
def realistic_pool(n=40, seed=0):
    rng = random.Random(seed)
    words = "apple river stone light quiet market engine garden silver paper cloud window".split()
    out = []
    for i in range(n):
        topic = " ".join(rng.sample(words, 3))
        history = []
        if i % 3 == 0:
            history = [{"role": "user", "content": f"Tell me about {topic} number {i}"},
                       {"role": "assistant", "content": f"Earlier reply {i} about {topic}."}]
        ask = f"Name three facts about {topic} ({i})" if i % 4 == 0 else f"Explain {topic} ({i})"
        good = (f"Facts {i}:\n1. first {topic}\n2. second fact\n3. third fact\n\nThat is all for {i}."
                if i % 4 == 0 else f"A careful answer {i} about {topic}.\n\nA second paragraph {i}.")
        out.append(pair(ask, good, f"meh {i}", str(i), history))
    return out


def all_built(pool, embed=None, **cfg):
    return candidates(pool, HardPairsConfig(**cfg), embed or uniform(0.7))


def test_every_constructed_pair_passes_the_read_pairs_rule_and_names_its_parts():
    built = all_built(realistic_pool())
    assert set(built) == set(BIAS_TYPES) and all(built[t] for t in BIAS_TYPES)
    for bias, units in built.items():
        for p in (p for u in units for p in u):
            assert checked_pair(p) is p and p.meta["bias"] == bias and p.source == SOURCE_PREFIX + bias
            assert {"prompt", "chosen", "rejected"} <= set(p.meta["parts"])
            assert json.loads(json.dumps(PreferencePair.from_dict(p.to_dict()).meta)) == p.meta  # round-trips


def test_longer_worse_rejected_is_longer_and_starts_with_the_worst_response():
    for (p,) in all_built(realistic_pool())["longer_worse"]:
        assert len(p.rejected) > len(p.chosen) and p.rejected.startswith(p.rejected.split("\n\n")[0])
        assert p.rejected.split("\n\n")[0].startswith("meh ")


def test_swapped_pairs_mirror_each_other_so_each_response_is_chosen_once_and_rejected_once():
    units = all_built(realistic_pool())["swapped"]
    for a, b in units:
        assert (a.chosen, a.rejected) == (b.rejected, b.chosen) and a.prompt != b.prompt
    chosen = [p.chosen for u in units for p in u]
    rejected = [p.rejected for u in units for p in u]
    assert sorted(chosen) == sorted(rejected) and len(set(chosen)) == len(chosen)


def test_count_requests_and_list_edits():
    assert requested_count("Name three rivers in Peru") == 3
    assert requested_count("What are 10 ways to use gas?") == 10
    assert requested_count("List at least 5 uses") is None and requested_count("Give three to five tips") is None
    assert requested_count("Explain the river") is None
    text = "Here:\n1. a\n2. b\n   more on b\n3. c\n\nDone."
    assert list_items(text) == [1, 2, 4]
    assert drop_item(text, random.Random(0)) in {"Here:\n1. b\n   more on b\n2. c\n\nDone.",
                                                 "Here:\n1. a\n2. c\n\nDone.", "Here:\n1. a\n2. b\n   more on b\n\nDone."}
    assert add_item(text, "x\n- donor item\n- other") == "Here:\n1. a\n2. b\n   more on b\n3. c\n4. donor item\n\nDone."
    assert list_items("1. a\n- b") == []  # mixed markers: no list to count


def test_count_mismatch_breaks_only_the_count():
    units = all_built(realistic_pool())["count_mismatch"]
    for (p,) in units:
        assert len(list_items(p.chosen)) == 3 and len(list_items(p.rejected)) in (2, 4)
        assert p.meta["requested"] == 3 and p.meta["edit"] in ("removed", "added")


def test_earlier_turn_rejects_with_the_assistants_own_earlier_reply():
    for (p,) in all_built(realistic_pool())["earlier_turn"]:
        assert p.rejected == p.prompt[p.meta["turn"]]["content"] and p.prompt[p.meta["turn"]]["role"] == "assistant"


# ------------------------------------------------------------------ determinism, leaks, ratio, judge
def test_same_pool_and_seed_give_the_same_pairs_and_another_seed_other_ones():
    pool = realistic_pool()
    ids = lambda b: {t: [p.id for u in us for p in u] for t, us in b.items()}  # noqa: E731
    assert ids(all_built(pool, seed=3)) == ids(all_built(pool, seed=3))
    assert ids(all_built(pool, seed=3))["swapped"] != ids(all_built(pool, seed=4))["swapped"]
    a = for_split(pool[:30], pool[30:], HardPairsConfig(seed=1), embed=uniform())
    b = for_split(pool[:30], pool[30:], HardPairsConfig(seed=1), embed=uniform())
    assert [p.id for p in a[0] + a[1]] == [p.id for p in b[0] + b[1]] and a[2] == b[2]


def test_no_held_out_prompt_or_response_reaches_a_training_pair():
    pool = realistic_pool(80)
    train, val = split_pairs(pool, 0.25, seed=0, by="prompt")
    train2, val2, counts = for_split(train, val, HardPairsConfig(ratio=1.0, max_val_pairs_per_type=None), embed=uniform())
    assert len(val2) > len(val) and len(train2) > len(train)  # both sides got constructed pairs
    texts = lambda ps: ({m["content"] for p in ps for m in p.prompt} | {p.chosen for p in ps}  # noqa: E731
                        | {p.rejected.split("\n\n")[0] for p in ps})
    held_out = texts(val2)
    for p in train2:
        parts = {m["content"] for m in p.prompt} | {p.chosen, p.rejected} | set(p.rejected.split("\n"))
        assert not parts & held_out, p.meta
    assert {prompt_key(p) for p in train2}.isdisjoint({prompt_key(p) for p in val2})


def test_ratio_shares_the_training_pairs_among_types_and_counts_each():
    pool = realistic_pool(80)
    train, val = pool[:60], pool[60:]
    cfg = HardPairsConfig(ratio=0.2, types=["neighbour", "longer_worse"], max_val_pairs_per_type=5)
    train2, val2, counts = for_split(train, val, cfg, embed=uniform())
    assert counts["neighbour"]["train"] == counts["longer_worse"]["train"] == 6  # 0.2 x 60 / 2
    assert counts["neighbour"]["val"] == 5 and len(val2) == 20 + 10 and len(train2) == 72
    assert counts["neighbour"]["train_candidates"] == 60


def test_judge_keeps_the_wrong_and_tied_pairs_and_reports_the_kept_share():
    pool = realistic_pool(80)
    cfg = HardPairsConfig(ratio=1.0, types=["neighbour", "swapped"], judge=JudgeConfig(model="x", oversample=10))
    wrong_on = {}

    def judge(pairs):  # ranks every third pair wrong, every third tied
        out = [(-1.0, 0.0, 1.0)[k % 3] for k in range(len(pairs))]
        wrong_on.update({p.id: m for p, m in zip(pairs, out)})
        return out

    train2, _, counts = for_split(pool, [], cfg, embed=uniform(), judge=judge)
    kept = [p for p in train2 if p.meta.get("bias") == "neighbour"]
    assert kept and all(wrong_on[p.id] <= 0 for p in kept)
    c = counts["neighbour"]
    assert c["kept_by_judge"] == c["judged"] - c["judged"] // 3 and c["kept_share"] == pytest.approx(c["kept_by_judge"] / c["judged"])
    for p in (p for p in train2 if p.meta.get("bias") == "swapped"):  # a mirror pair stays with its hard twin
        assert any(q.chosen == p.rejected and q.rejected == p.chosen for q in train2)
    assert hard_units([], JudgeConfig(model="x"), judge=lambda ps: []) == []


def test_the_judge_is_the_model_its_config_names_loaded_at_its_dtype(tiny):
    from tiny_models import toy_pairs

    from rewardkit.hardpairs.run import _judge_margins
    from rewardkit.models.scoring import RewardModel

    pairs = toy_pairs(6, seed=3)
    margins = _judge_margins(JudgeConfig(model=str(tiny), dtype="float32", max_length=64))(pairs)
    rm = RewardModel.load(str(tiny), dtype="float32", seed=0)
    assert margins == [c - r for c, r in rm.score_pairs(pairs, max_length=64)]  # same weights, head seed 0
    reseeded = _judge_margins(JudgeConfig(model=str(tiny), dtype="float32", max_length=64, seed=1))(pairs)
    assert reseeded != margins  # the head the bare backbone lacks is drawn from the judge's own seed


# ------------------------------------------------------------------ bad specs: one line each
@pytest.mark.parametrize("spec, message", [
    ({"types": ["neighbor"]}, "unknown bias type(s) ['neighbor']"),
    ({"band": (0.5, 1.2)}, "band [0.5, 1.2] must be [low, high] with 0 <= low < high <= 1"),
    ({"band": (0.8, 0.5)}, "band [0.8, 0.5] must be"),
])
def test_bad_spec_is_a_one_line_error(spec, message):
    with pytest.raises(ValidationError) as e:
        HardPairsConfig(**spec)
    assert message in str(e.value)
    from rewardkit.errors import validation_message

    assert "\n" not in validation_message(e.value)


def test_a_pool_too_small_for_a_neighbour_is_a_one_line_error():
    with pytest.raises(ValueError, match=r"^hard_pairs: the training pool has 1 distinct prompt\(s\); a neighbour needs at least 2$"):
        for_split([pair("q", "a", "b")] * 3, [], HardPairsConfig(ratio=1.0), embed=uniform())
    two = [pair("q", "a", "b"), pair("r", "c", "d")]
    with pytest.raises(ValueError, match=r"^hard_pairs: none of the training pool's 2 prompts has a neighbour with similarity in band \[0.5, 0.85\]; widen"):
        for_split(two * 5, [], HardPairsConfig(ratio=1.0), embed=uniform(0.1))
    with pytest.raises(ValueError, match=r"^hard_pairs: the held-out pool has 1 distinct prompt"):
        for_split([], two[:1], HardPairsConfig(), embed=uniform(0.1))
    # a held-out sample without neighbours builds no neighbour pairs; the run goes on
    _, val, counts = for_split([], two, HardPairsConfig(), embed=uniform(0.1))
    assert val == two and counts["neighbour"] == {"val_candidates": 0, "val": 0}


def test_hard_pairs_need_whole_prompts_held_out():
    from rewardkit.training import TrainConfig

    with pytest.raises(ValidationError, match="hard_pairs needs val_split: prompt"):
        TrainConfig(hard_pairs={}, val_fraction=0.2, val_split="pair")
    assert TrainConfig(hard_pairs={}, val_fraction=0.2, val_split="prompt").hard_pairs.types == list(BIAS_TYPES)


# ------------------------------------------------------------------ the held-out report
def test_heldout_rows_per_type_natural_and_length_reliance_by_hand():
    from types import SimpleNamespace

    from rewardkit.evaluation.heldout import heldout_report, length_reliance

    ps = [pair("a", "long chosen", "short", "1"), pair("b", "s", "longer rejected", "2"),
          pair("c", "same", "same!", "3"), pair("d", "xx", "yy", "4")]
    ps[1].source = SOURCE_PREFIX + "neighbour"
    margins, probe = [1.0, 1.0, -1.0, 0.0], [-1.0, -1.0, 1.0, 2.0]
    report = heldout_report(SimpleNamespace(pairs=ps), margins, probe)
    assert list(report) == ["toy", SOURCE_PREFIX + "neighbour", "natural", "rejected longer", "all"]
    assert report["natural"]["model"]["pairs"] == 3 and report["natural"]["model"]["accuracy"] == pytest.approx(1.5 / 3)
    assert report[SOURCE_PREFIX + "neighbour"]["model"]["accuracy"] == 1.0
    # rejected longer: pairs 2 and 3, across types; the model gets 2 right and 3 wrong, the probe the
    # opposite, and "longer wins" neither
    longer = report["rejected longer"]
    assert (longer["model"]["pairs"], longer["model"]["accuracy"], longer["probe"]["accuracy"]) == (2, 0.5, 0.5)
    assert longer["length_baseline"]["accuracy"] == 0.0
    rel = length_reliance(ps, margins, probe)
    # lengths differ in pairs 1 (chosen longer), 2 and 3 (rejected longer); 4 is left out. The model ranks
    # chosen, chosen, rejected: the longer, the shorter, the longer; the probe the opposite each time.
    assert rel["all"] == {"pairs": 3, "longer_chosen": pytest.approx(1 / 3), "model_prefers_longer": pytest.approx(2 / 3),
                          "probe_prefers_longer": pytest.approx(1 / 3)}
    assert rel["natural"] == {"pairs": 2, "longer_chosen": 0.5, "model_prefers_longer": 1.0, "probe_prefers_longer": 0.0}
    assert rel["rejected longer"] == {"pairs": 2, "longer_chosen": 0.0, "model_prefers_longer": 0.5,
                                      "probe_prefers_longer": 0.5}


def test_training_with_hard_pairs_reports_each_type_and_the_length_figure(tiny, tmp_path, monkeypatch):
    """A tiny LP run with hard pairs: the training log counts them per type, the held-out report has a
    row per type and "natural", and summary.json has the length-reliance figure."""
    from rewardkit.hardpairs import run as hp_run
    from rewardkit.training import TrainConfig, train_from_config

    monkeypatch.setattr(hp_run, "_default_embed", uniform(0.7))
    pool = realistic_pool(48)
    cfg = TrainConfig(model=str(tiny), global_batch_size=8, micro_batch_size=8, lr=3e-3, epochs=1, max_length=96,
                      eval_every=100, save_every=100, bf16=False, seed=1, val_fraction=0.25, val_split="prompt",
                      hard_pairs={"ratio": 0.5, "types": ["neighbour", "longer_worse"], "max_val_pairs_per_type": 4})
    train_from_config(cfg, tmp_path / "run", train_pairs=pool)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert set(summary["heldout"]) == {"toy", "natural", "rejected longer", "all", SOURCE_PREFIX + "neighbour",
                                       SOURCE_PREFIX + "longer_worse"}
    assert summary["heldout"]["natural"]["model"]["pairs"] == 12
    assert summary["heldout"][SOURCE_PREFIX + "neighbour"]["model"]["pairs"] == 4
    assert summary["hard_pairs"]["neighbour"]["train"] == 9  # 0.5 x 36 / 2
    assert summary["heldout_length_reliance"][SOURCE_PREFIX + "longer_worse"]["longer_chosen"] == 0.0


def test_minilm_embeds_unit_rows_and_a_paraphrase_is_nearer_than_another_topic():
    from rewardkit.hardpairs.embed import embed

    v = embed(["How do I bake bread?", "What is a good recipe for homemade bread?", "Who won the 1998 World Cup?"])
    assert v.shape == (3, 384) and np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert v[0] @ v[1] > 0.5 > v[0] @ v[2]
    assert np.allclose(embed(["Who won the 1998 World Cup?"])[0], v[2], atol=1e-5)  # batch-independent


# ------------------------------------------------------------------ as a curation step
def test_curation_step_adds_each_type_as_a_source_of_table_1(tmp_path, monkeypatch):
    from rewardkit.curation.config import CurateConfig
    from rewardkit.curation.run import curate
    from rewardkit.data.io import write_pairs
    from rewardkit.hardpairs import run as hp_run

    monkeypatch.setattr(hp_run, "_default_embed", uniform(0.7))
    write_pairs(tmp_path / "pool.jsonl", realistic_pool(40))
    cfg = CurateConfig(sources=[{"name": "Pool", "spec": f"pairs:{tmp_path / 'pool.jsonl'}",
                                 "steps": [{"hard_pairs": {"ratio": 0.5, "types": ["neighbour", "swapped"]}}]}],
                       report={"figures": False, "token_sample": 10})
    results = curate(cfg, tmp_path / "out")
    counts = json.loads(results["counts"].read_text())
    assert counts["per_source"]["toy"] == 40 and counts["per_source"][SOURCE_PREFIX + "neighbour"] == 10
    assert counts["per_source"][SOURCE_PREFIX + "swapped"] == 10  # five mirrored units
    (step,) = [s for s in counts["steps"] if s["step"] == "hard_pairs"]
    assert step["seen"] == 40 and step["kept"] == 60 and step["dropped"] == {}
    assert SOURCE_PREFIX + "neighbour" in (tmp_path / "out" / "report.md").read_text()  # Table 1's row


def test_a_hold_out_drawn_from_constructed_pairs_is_refused(tmp_path, monkeypatch):
    from rewardkit.training import TrainConfig
    from rewardkit.training.setup import split_and_sample

    pool = realistic_pool(20)
    built = for_split(pool, [], HardPairsConfig(ratio=1.0, types=["neighbour"]), embed=uniform())[0]
    with pytest.raises(ValueError, match=r"^train: val_fraction: 20 pairs are constructed \(hard_pairs/\*\), built before"):
        split_and_sample(TrainConfig(val_fraction=0.2, val_split="prompt"), built, None)
    train, val, hard = split_and_sample(TrainConfig(val_fraction=0.2), built, pool[:3])  # val_data: fine
    assert len(train) == 40 and hard is None


def test_a_run_with_max_pairs_builds_from_the_whole_training_side_at_the_ratio_to_the_kept_pairs(monkeypatch):
    from rewardkit.hardpairs import run as hp_run
    from rewardkit.training import TrainConfig
    from rewardkit.training.setup import split_and_sample

    pool = realistic_pool(80)
    cfg = TrainConfig(val_fraction=0.25, val_split="prompt", max_pairs=20, max_val_pairs=10, seed=3,
                      hard_pairs={"ratio": 0.5, "types": ["neighbour"], "max_val_pairs_per_type": 7})
    monkeypatch.setattr(hp_run, "_default_embed", uniform())
    train, val, counts = split_and_sample(cfg, pool, None)
    assert counts["neighbour"] == {"train_candidates": 60, "train": 10, "val_candidates": 20, "val": 7}
    assert len(train) == 30 and len(val) == 17
    held = {prompt_key(p) for p in val}
    assert all(prompt_key(p) not in held and p.rejected not in {q.chosen for q in val} for p in train)
