"""Bad input that only shows once training runs: a non-finite loss stops the run and exports nothing; a
resume refuses a recipe that alters the run (training.resume) and takes one that does not.

In-process runs of a few steps on the tiny Llama (conftest.py's `tiny`), fp32.
"""

import json
import math

import pytest
import yaml

from rewardkit.errors import UserError
from rewardkit.training import TrainConfig, TrainRecipe, train_from_config
from rewardkit.training.resume import MAY_CHANGE, MAY_GROW, changed_keys
from tiny_models import toy_pairs


def _cfg(tiny, **over) -> TrainConfig:
    return TrainConfig(**{"model": str(tiny), "global_batch_size": 8, "micro_batch_size": 8, "lr": 3e-3, "epochs": 1,
                          "max_steps": 2, "max_length": 96, "eval_every": 2, "save_every": 2, "bf16": False,
                          "seed": 3, **over})


def _train(cfg, out, *, seed=1, **kw):
    return train_from_config(cfg, out, train_pairs=toy_pairs(48, seed=seed), val_pairs=toy_pairs(8, seed=2), **kw)


def _log(out) -> list[dict]:
    return [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]


def test_a_non_finite_loss_stops_the_run_at_its_step_and_exports_no_model(tiny, tmp_path):
    # tau 0 is a finite setting (the recipe takes it) whose loss is not: Δ/0 is ±inf or nan
    cfg = _cfg(tiny, loss="temperature_bt", loss_params={"tau": 0.0})
    with pytest.raises(UserError, match=r"step 1: the loss is (nan|inf)(, the grad norm is nan)?: training stopped "
                                        r"before applying it, no model exported"):
        _train(cfg, tmp_path / "run")
    assert not (tmp_path / "run" / "model").exists() and not (tmp_path / "run" / "checkpoints").exists()
    stopped = [r for r in _log(tmp_path / "run") if r["event"] == "non_finite"]
    assert len(stopped) == 1 and stopped[0]["step"] == 1 and not math.isfinite(float(stopped[0]["loss"]))


def test_a_non_finite_gradient_stops_the_run_too(tiny, tmp_path, monkeypatch):
    from rewardkit.training import loop

    seen = []
    real = loop.check_finite
    monkeypatch.setattr(loop, "check_finite", lambda run, step, **v: (seen.append(v), real(
        run, step, **{**v, "grad_norm": float("nan") if step == 2 else v["grad_norm"]}))[1])
    with pytest.raises(UserError, match=r"step 2: the grad norm is nan"):
        _train(_cfg(tiny, max_steps=3, save_every=1), tmp_path / "run")
    assert len(seen) == 2 and all(math.isfinite(v["loss"]) and math.isfinite(v["grad_norm"]) for v in seen)
    assert not (tmp_path / "run" / "model").exists()
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir()) == ["step-1"]  # nothing of step 2


@pytest.fixture(scope="module")
def run_dir(tiny, tmp_path_factory):
    """A finished 2-step run with a step-2 checkpoint, to resume from."""
    out = tmp_path_factory.mktemp("resume") / "run"
    _train(_cfg(tiny), out)
    return out


@pytest.mark.parametrize("change, named", [
    ({"lr": 1e-3}, "lr: 0.003 -> 0.001"),
    ({"model": "other/model"}, "model: "),
    ({"loss": "hinge"}, "loss: 'bradley_terry' -> 'hinge'"),
    ({"scheduler": "linear"}, "scheduler: 'cosine' -> 'linear'"),
    ({"data": ["generic:other.jsonl"]}, "data: [] -> ['generic:other.jsonl']"),
    ({"adam_betas": (0.8, 0.999)}, "adam_betas: [0.9, 0.999] -> [0.8, 0.999]"),
    ({"lora": {"r": 4}}, "lora: None -> {'r': 4"),
    ({"max_steps": 1}, "max_steps: 2 -> 1"),
    ({"global_batch_size": 16, "seed": 4}, "global_batch_size: 8 -> 16; seed: 3 -> 4"),
])
def test_resume_refuses_a_recipe_that_alters_the_run_naming_each_key(tiny, run_dir, change, named):
    before = (run_dir / "checkpoints").stat().st_mtime_ns, (run_dir / "recipe.yaml").read_text()
    with pytest.raises(UserError, match="resume with a recipe that alters the run") as e:
        _train(_cfg(tiny, **change), run_dir, resume=True)
    assert named in str(e.value) and str(e.value).count(" -> ") == len(change)
    assert ((run_dir / "checkpoints").stat().st_mtime_ns, (run_dir / "recipe.yaml").read_text()) == before


def test_resume_refuses_other_pairs_under_the_same_recipe(tiny, run_dir):
    """The recipe names files; a file changed under the same name is other data (the run's start event
    holds the fingerprint of the pair ids it trained on)."""
    with pytest.raises(UserError, match=r"resume reads other pairs than the run trained on \(48 train / 8 held-out "
                                        r"now, 48 train / 8 held-out then"):
        _train(_cfg(tiny), run_dir, seed=5, resume=True)
    assert not (run_dir / "train_log.jsonl").read_text().count('"resume"')


def test_resume_takes_what_does_not_alter_the_run(tiny, run_dir):
    cfg = _cfg(tiny, max_steps=3, log_every=5, eval_every=1, save_every=7, keep_checkpoints=1, micro_batch_size=4,
               optimizer_impl="for_loop")
    _train(cfg, run_dir, resume=True)
    log = _log(run_dir)
    assert [r["step"] for r in log if r["event"] == "resume"] == [2]
    assert max(r["step"] for r in log if r["event"] == "step") == 3
    assert yaml.safe_load((run_dir / "recipe.yaml").read_text())["max_steps"] == 3  # the new recipe is the run's now


def test_resume_of_a_folder_that_is_not_a_run_is_refused(tiny, tmp_path):
    with pytest.raises(UserError, match="no recipe.yaml: not a training run directory"):
        _train(_cfg(tiny), tmp_path, resume=True)


def test_every_key_a_resume_may_change_is_a_recipe_key_and_growing_is_one_way():
    assert set(MAY_CHANGE) | set(MAY_GROW) <= set(TrainRecipe.model_fields)
    saved = TrainRecipe(max_steps=10, epochs=2).model_dump(mode="json")
    assert changed_keys(saved, TrainRecipe(max_steps=None, epochs=3, log_every=9)) == []
    assert changed_keys(saved, TrainRecipe(max_steps=9, epochs=1)) == ["epochs: 2 -> 1", "max_steps: 10 -> 9"]
    # a key the saved recipe lacks (written before the key existed) counts as its default
    del saved["head_lr_multiplier"]
    assert changed_keys(saved, TrainRecipe(max_steps=10, epochs=2, head_lr_multiplier=2.0)) == [
        "head_lr_multiplier: 1.0 -> 2.0"]


def test_a_model_dir_rewardkit_did_not_write_is_refused_before_training_not_after(tiny, tmp_path):
    from rewardkit.errors import own_output_dir

    out = own_output_dir(tmp_path / "run")  # the run dir is rewardkit's; its model/ is not
    (out / "model").mkdir()
    (out / "model" / "mine.txt").write_text("x")
    with pytest.raises(UserError, match="run/model: not empty and not written by rewardkit"):
        _train(_cfg(tiny), out)
    assert not (out / "train_log.jsonl").exists() and (out / "model" / "mine.txt").read_text() == "x"
