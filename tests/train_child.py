"""python tests/train_child.py RECIPE.yaml [--kill-after-step N]: run `rewardkit train`, optionally
SIGKILLing this very process right after step N is logged (a real kill at a known point, for the
kill-and-resume test: polling from outside would race a run this fast)."""

import os
import signal
import sys

from rewardkit.recipe import load_recipe
from rewardkit.training import TrainRecipe, train_recipe
from rewardkit.training.runlog import RunLog

if __name__ == "__main__":
    recipe, args = sys.argv[1], sys.argv[2:]
    kill_after = int(args[args.index("--kill-after-step") + 1]) if "--kill-after-step" in args else None
    if kill_after is not None:
        original = RunLog.step

        def step_then_kill(self, **record):
            original(self, **record)
            if record["step"] == kill_after:
                os.kill(os.getpid(), signal.SIGKILL)

        RunLog.step = step_then_kill
    train_recipe(load_recipe(recipe, TrainRecipe, [a for a in args if "=" in a]))
