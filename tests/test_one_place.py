"""Each default and rule is written once and imported: the tie rule, the default model, the token
budget per forward pass, the bad-row policy and the bootstrap's resample count. A signature that
states one of them again as a literal would drift from the rest when the constant changes."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import numpy as np
import torch

from rewardkit.options import DEFAULT_BATCH_TOKENS, DEFAULT_MODEL, DEFAULT_ON_BAD_ROW

SRC = Path(__file__).resolve().parents[1] / "src" / "rewardkit"


def default(fn, name: str):
    return inspect.signature(fn).parameters[name].default


def field_default(model, name: str):
    return model.model_fields[name].default


def test_a_tie_counts_half_through_one_function_in_all_three_places():
    """Held-out reports, training (each step and validation) and probes share evaluation.heldout's
    ranked_right: right 1, tie ½, wrong 0, for floats, numpy arrays and torch tensors alike."""
    from rewardkit.evaluation import heldout
    from rewardkit.probing import probe
    from rewardkit.training import loop

    assert loop.ranked_right is heldout.ranked_right is probe.ranked_right
    assert heldout.flags([2.0, 0.0, -0.5]) == [1.0, 0.5, 0.0]
    rc, rr = [1.0, 0.0, 2.0, 3.0], [0.0, 0.0, 3.0, 3.0]  # right, tie, wrong, tie: (1 + ½ + 0 + ½) / 4
    assert probe.pair_accuracy(np.array(rc), np.array(rr)) == 0.5
    t = heldout.ranked_right(torch.tensor(rc), torch.tensor(rr))
    assert t.dtype == torch.float32 and t.tolist() == [1.0, 0.5, 0.0, 0.5]
    assert heldout.ranked_right(np.array(rc), np.array(rr)).tolist() == [1.0, 0.5, 0.0, 0.5]


def test_no_module_writes_the_tie_rule_again():
    """The rule's two shapes (`0.5 if m == 0`, `0.5 * (a == b)`) appear only in ranked_right."""
    found = []
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
                sides = (node.left, node.right)
            elif isinstance(node, ast.IfExp):
                sides = (node.body, node.test)
            else:
                continue
            half = any(isinstance(n, ast.Constant) and n.value == 0.5 for n in sides)
            equal = any(isinstance(n, ast.Compare) and isinstance(n.ops[0], ast.Eq) for s in sides for n in ast.walk(s))
            if half and equal:
                found.append(f"{path.relative_to(SRC)}:{node.lineno}")
    from rewardkit.evaluation.heldout import ranked_right

    lines, start = inspect.getsourcelines(ranked_right)
    assert found and set(found) <= {f"evaluation/heldout.py:{n}" for n in range(start, start + len(lines))}


def test_every_default_model_is_the_one_constant():
    from rewardkit.models.loading import ALIASES, load_reward_model
    from rewardkit.models.scoring import RewardModel
    from rewardkit.models.tokenizers import DEFAULT_TOKENIZER
    from rewardkit.probing.cache import FeaturesConfig
    from rewardkit.serving.config import ServeConfig
    from rewardkit.training import TrainConfig

    assert DEFAULT_MODEL in ALIASES
    assert default(load_reward_model, "name_or_path") == default(RewardModel.load, "name_or_path") == DEFAULT_MODEL
    assert {field_default(m, "model") for m in (TrainConfig, ServeConfig, FeaturesConfig)} == {DEFAULT_MODEL}
    assert DEFAULT_TOKENIZER == DEFAULT_MODEL


def test_every_dtype_and_decontamination_fields_default_is_the_one_constant():
    from rewardkit.decontamination.config import DecontaminateConfig
    from rewardkit.decontamination.filter import DEFAULT_FIELDS, Decontaminate, pair_texts
    from rewardkit.models.loading import load_reward_model
    from rewardkit.options import DEFAULT_DTYPE, ModelOptions
    from rewardkit.probing.cache import FeaturesConfig

    dtypes = {field_default(ModelOptions, "dtype"), field_default(FeaturesConfig, "dtype"),
              default(load_reward_model, "dtype")}
    assert dtypes == {DEFAULT_DTYPE} == {"auto"}
    fields = {field_default(DecontaminateConfig, "fields"), default(pair_texts, "fields"), default(Decontaminate, "fields")}
    assert fields == {DEFAULT_FIELDS} == {"first_user"}


def test_the_long_conversation_policy_is_the_one_constant():
    from rewardkit.models.tokenization import encode_pair
    from rewardkit.options import DEFAULT_ON_LONG
    from rewardkit.training import TrainConfig

    assert default(encode_pair, "on_long") == field_default(TrainConfig, "on_long") == DEFAULT_ON_LONG == "truncate"


def test_training_and_probes_default_to_the_one_loss():
    from rewardkit.losses import LOSSES
    from rewardkit.options import DEFAULT_LOSS
    from rewardkit.probing.options import ProbeOptions
    from rewardkit.training import TrainConfig

    assert field_default(TrainConfig, "loss") == field_default(ProbeOptions, "loss") == DEFAULT_LOSS in LOSSES


def test_every_token_budget_bad_row_policy_and_resample_count_is_the_one_constant():
    from rewardkit.data.sources import iter_pairs, read_pairs
    from rewardkit.data.sources.base import ReadContext
    from rewardkit.data.sources.sets import read_sets
    from rewardkit.data.stats import dataset_table
    from rewardkit.decontamination.run import load_references, open_step
    from rewardkit.evaluation import bestofn, bootstrap, compare, rewardbench
    from rewardkit.evaluation.run import compare_files
    from rewardkit.models.scoring import RewardModel
    from rewardkit.options import ReadOptions, ScoringOptions
    from rewardkit.probing.cache import FeaturesConfig
    from rewardkit.probing.features import pooled_features

    budgets = {field_default(ScoringOptions, "batch_tokens"), field_default(FeaturesConfig, "batch_tokens"),
               default(pooled_features, "batch_tokens"), default(RewardModel.score, "batch_tokens")}
    assert budgets == {DEFAULT_BATCH_TOKENS}
    policies = {default(f, "on_bad_row") for f in (read_pairs, iter_pairs, read_sets, ReadContext, dataset_table,
                                                   load_references, open_step)}
    assert policies | {field_default(ReadOptions, "on_bad_row")} == {DEFAULT_ON_BAD_ROW} == {"error"}
    resamples = {default(f, "n_boot") for f in (bootstrap.mean_interval, bootstrap.paired_difference, compare.compare,
                                                 bestofn.summarize, bestofn.dataset_summary, rewardbench.summarize,
                                                 compare_files)}
    assert resamples == {bootstrap.N_BOOT}


LITERALS = {("on_bad_row", "error"), ("n_boot", 1000), ("dtype", "bfloat16"), ("fields", "first_user"),
            ("on_long", "truncate"), ("loss", "bradley_terry")}
"""(parameter or field, default) pairs whose default has a constant: DEFAULT_ON_BAD_ROW, N_BOOT, DEFAULT_DTYPE,
decontamination.filter.DEFAULT_FIELDS, DEFAULT_ON_LONG, DEFAULT_LOSS."""


def literal_defaults() -> list[str]:
    """Where src/ writes the default model, the token budget, the bad-row policy or the resample count
    as a literal instead of importing its constant (docstrings, which only mention them, aside)."""
    found = []
    for path in SRC.rglob("*.py"):
        rel = str(path.relative_to(SRC))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and node.value in ("smollm2", 8192) and rel != "options.py":
                found.append(f"{rel}:{node.lineno}: {node.value!r}")
            if isinstance(node, ast.arguments):
                named = [*node.posonlyargs, *node.args][-len(node.defaults):] if node.defaults else []
                pairs = [*zip(named, node.defaults), *zip(node.kwonlyargs, node.kw_defaults)]
                found += [f"{rel}:{d.lineno}: {a.arg}={d.value!r}" for a, d in pairs
                          if isinstance(d, ast.Constant) and (a.arg, d.value) in LITERALS]
            if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                    and isinstance(node.value, ast.Constant) and (node.target.id, node.value.value) in LITERALS):
                found.append(f"{rel}:{node.lineno}: {node.target.id} = {node.value.value!r}")
    return sorted(found)


def test_src_writes_no_default_twice():
    """The one allowed literal: the alias table's own key, which is where the name "smollm2" is defined."""
    assert literal_defaults() == [f"models/loading.py:{alias_line()}: 'smollm2'"]


def alias_line() -> int:
    lines = (SRC / "models" / "loading.py").read_text(encoding="utf-8").splitlines()
    return next(i for i, line in enumerate(lines, 1) if line.startswith("ALIASES = "))
