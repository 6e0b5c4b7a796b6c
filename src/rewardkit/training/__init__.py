"""Reward-model training: typed config, data batching, one accelerate loop, checkpoints.

    from rewardkit.training import TrainConfig, train_from_config
    model_dir = train_from_config(TrainConfig(data=["hh_rlhf:hh-rlhf-test"]), "runs/train")
"""

from rewardkit.training.config import TrainConfig, TrainRecipe


def train_from_config(cfg, out_dir, **kw):
    """See rewardkit.training.loop.train_from_config (imported lazily: torch/accelerate are heavy)."""
    from rewardkit.training.loop import train_from_config as _train

    return _train(cfg, out_dir, **kw)


def train_recipe(recipe: TrainRecipe):
    """Run a standalone training recipe (`rewardkit train`): returns the saved model directory."""
    return train_from_config(recipe, recipe.out_dir, resume=recipe.resume)


__all__ = ["TrainConfig", "TrainRecipe", "train_from_config", "train_recipe"]
