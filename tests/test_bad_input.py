"""The bad-input suite: a catalogue of bad inputs per command, each run through the
real entry point (`rewardkit.cli.main`) and held to the rule "rewardkit never guesses":

- the exit status is non-zero;
- no traceback is shown (RK_DEBUG unset), and the message is one line, `rewardkit: error: ...`, except
  for click's own usage errors (bad option values), which name the option in their box;
- the message holds the case's key words (the file, line, field or option at fault);
- no output that looks complete is left behind.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch
from tiny_models import save_tiny, tiny_llama, tiny_tokenizer

from rewardkit.cli import main
from conftest import SHARED

RB500 = SHARED / "data/rewardbench-filtered-first500/reward_bench_filtered_sample.jsonl"
XSTEST = SHARED / "data/xstest"

PAIR = {"prompt": "why is the sky blue", "chosen": "because light scatter", "rejected": "no"}
LONG = {"prompt": "please tell me about cats and dogs and why the sky is blue", "chosen": "yes", "rejected": "no"}


def _example(i, subset="alpacaeval-easy", sc=1.0, sr=0.0):
    return {"id": str(i), "subset": subset, "dataset": "rb", "score_chosen": sc, "score_rejected": sr}


def _jsonl(rows) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


SET_SCORES = [  # (name, section, the one stored example without its id): each unscorable by its section's rule
    ("rb2_subset", "rewardbench2", {"subset": "Factualty", "scores": [1.0, 0.0, 0.0, 0.0], "num_correct": 1}),
    ("rb2_correct", "rewardbench2", {"subset": "Math", "scores": [1.0, 0.0], "num_correct": 2}),
    ("rb2_empty", "rewardbench2", {"subset": "Math", "scores": [], "num_correct": 1}),
    ("rb2_two_correct", "rewardbench2", {"subset": "Math", "scores": [1.0, 0.5, 0.0], "num_correct": 2}),
    ("rb2_ties_id", "rewardbench2", {"subset": "Ties", "scores": [1.0, 0.5, 0.0], "num_correct": 2}),
    ("rm_short", "rmbench", {"domain": "chat", "score_chosen": [1.0, 2.0], "score_rejected": [0.0, 0.0, 0.0]}),
    ("rm_empty", "rmbench", {"domain": "chat", "score_chosen": [1.0, 2.0, 3.0], "score_rejected": []}),
    ("rm_domain", "rmbench", {"domain": "chatt", "score_chosen": [1.0, 2.0, 3.0], "score_rejected": [0.0, 0.0, 0.0]}),
    ("bon_lengths", "best_of_n", {"dataset": "d", "scores": [1.0, 2.0, 3.0], "ratings": [1.0, 2.0]}),
    ("bon_one", "best_of_n", {"dataset": "d", "scores": [1.0], "ratings": [4.0]}),
]

MINE = {"pairs.jsonl": _jsonl([PAIR, LONG]), "notes.txt": "a user's own file\n",
        "s.jsonl.quarantine.jsonl": "where `score --out mine/s.jsonl` would put its quarantine\n"}
"""The files of a folder rewardkit did not write, given as an output directory or file below."""


@pytest.fixture(scope="module")
def ws(tmp_path_factory) -> Path:
    """One workspace of small bad (and good) inputs shared by every case; cases run with it as cwd."""
    from rewardkit.data.fixtures import write_fixtures

    ws = tmp_path_factory.mktemp("bad_input")
    save_tiny(tiny_llama(), tiny_tokenizer(), ws / "model")
    broken = tiny_llama()  # a model whose every output is NaN: nothing may come out of it as a number
    with torch.no_grad():
        broken.model.norm.weight.fill_(float("nan"))  # the last hidden states, hence features and scores
    save_tiny(broken, tiny_tokenizer(), ws / "nanmodel")
    files = {
        "pairs.jsonl": _jsonl([PAIR, PAIR | {"chosen": "good answer"}]),
        "long.jsonl": _jsonl([LONG]),
        "badjson.jsonl": _jsonl([PAIR]) + '{"prompt": "x", "chosen": \n',
        "empty.jsonl": "",
        "blocker": "a file where a directory is expected\n",
        "notparquet.parquet": "this is not parquet\n",
        "dup.yaml": "out_dir: out-run\ntrain:\n  model: model\n  lr: 1.0e-5\n  epochs: 1\n  lr: 2.0e-5\n",
        "unknown.yaml": "out_dir: out-run\ntrian: {model: model}\n",
        "broken.yaml": "out_dir: [out-run\ndata: {}\n",
        "run_blocked.yaml": "out_dir: blocker/run\ndata: {stats: ['generic:pairs.jsonl']}\n",
        "train_dup.yaml": "model: model\ndata: ['generic:pairs.jsonl']\nlr: 1.0e-5\nlr: 2.0e-5\n",
        "train_neg.yaml": "model: model\ndata: ['generic:pairs.jsonl']\nlr: -1.0\n",
        "train_nomodel.yaml": "model: no/such/model/dir\ndata: ['generic:pairs.jsonl']\nout_dir: out-train\n",
        "curate_twice.yaml": ("out_dir: out-curate\nsources:\n  - {name: A, spec: 'generic:pairs.jsonl'}\n"
                              "  - {name: A, spec: 'generic:long.jsonl'}\n"),
        "curate_fraction.yaml": ("out_dir: out-magpie\nreport: {figures: false}\nmagpie:\n"
                                 "  specs: ['magpie_ultra:fx/magpie_ultra']\n"
                                 "  fractions: {Math: 0.3, Coding and Debugging: 0.3, Other: 0.1}\n"),
        "train_mine.yaml": "model: model\ndata: ['generic:mine/pairs.jsonl']\nout_dir: mine\n",
        "curate_mine.yaml": "out_dir: mine\nsources:\n  - {name: A, spec: 'generic:mine/pairs.jsonl'}\n",
        "run_mine.yaml": "out_dir: mine\ndata: {stats: ['generic:mine/pairs.jsonl']}\n",
        "train_nan.yaml": "model: model\ndata: ['generic:pairs.jsonl']\nloss: focal\nloss_params: {gamma: .nan}\n",
        "train_inf.yaml": "model: model\ndata: ['generic:pairs.jsonl']\nlr: .inf\n",
        "train_eps.yaml": "model: model\ndata: ['generic:pairs.jsonl']\nadam_eps: -1\n",
        "train_betas.yaml": "model: model\ndata: ['generic:pairs.jsonl']\nadam_betas: [0.9, 1.5]\n",
        "train_resume.yaml": "model: model\ndata: ['generic:pairs.jsonl']\nout_dir: oldrun\nresume: true\nlr: 2.0e-5\n",
        "train_resume_none.yaml": "model: model\ndata: ['generic:pairs.jsonl']\nout_dir: a_dir\nresume: true\n",
        "surrogate.jsonl": _jsonl([PAIR]) + '{"prompt": "half \\ud83d a smile", "chosen": "a", "rejected": "b"}\n',
        "scores_surrogate.json": '{"examples": [{"id": "\\udc00", "subset": "alpacaeval-easy", "dataset": "rb", '
                                 '"score_chosen": 1.0, "score_rejected": 0.0}]}',
        "rb2_typo.jsonl": json.dumps({"id": "7", "prompt": "p", "chosen": ["good"], "rejected": ["b1", "b2", "b3"],
                                      "num_correct": 1, "num_incorrect": 3, "total_completions": 4,
                                      "subset": "Factualty"}) + "\n",
        **{f"scores_{name}.json": json.dumps({section: {"examples": [{"id": "0", **row}]}})
           for name, section, row in SET_SCORES},
        "scores_nan.json": json.dumps({"examples": [_example(0), _example(1, sc=float("nan"))]}),
        "scores_good.json": json.dumps({"examples": [_example(0), _example(1, sc=-1.0)]}),
        "scores_dup_free.json": json.dumps({"examples": [_example(0), _example(1)]}),
        "scores_dup.json": json.dumps({"examples": [_example(0), _example(0, sc=-1.0)]}),
        "scores_subset.json": json.dumps({"examples": [_example(0), _example(1, subset="alpaca-eval-easy")]}),
        "scores_str.json": json.dumps({"examples": [_example(0, sc="0.5")]}),
        "scores_broken.json": '{"examples": [',
        "scores_none.json": json.dumps({"model": "x"}),
    }
    for name, text in files.items():
        (ws / name).write_text(text, encoding="utf-8")
    (ws / "a_dir").mkdir()
    from rewardkit.recipe import dump_recipe
    from rewardkit.training import TrainRecipe

    (ws / "oldrun").mkdir()  # a run's saved recipe: lr 1e-5 (a resume reads it before anything else)
    (ws / "oldrun" / "recipe.yaml").write_text(dump_recipe(TrainRecipe(model="model", data=["generic:pairs.jsonl"],
                                                                       out_dir="oldrun", lr=1e-5)))
    for name, text in MINE.items():  # a user's folder: no case may change it (test_bad_input_fails_with_one_clear_line)
        (ws / "mine" / name).parent.mkdir(exist_ok=True)
        (ws / "mine" / name).write_text(text, encoding="utf-8")
    (ws / "badrun" / "evaluate").mkdir(parents=True)
    (ws / "badrun" / "evaluate" / "results.json").write_text("{not json", encoding="utf-8")
    (ws / "latin1.jsonl").write_bytes(_jsonl([PAIR]).encode() + '{"prompt": "caf\xe9", "chosen": "a", "rejected": "b"}\n'.encode("latin-1"))
    full = gzip.compress(_jsonl([PAIR] * 200).encode())
    (ws / "truncated.jsonl.gz").write_bytes(full[: len(full) // 2])
    (ws / "plain.jsonl.gz").write_text(_jsonl([PAIR]), encoding="utf-8")  # named .gz, not gzip
    write_fixtures(ws / "fx", scale="small")
    from rewardkit.probing.cache import FeaturesConfig, build_features

    build_features(FeaturesConfig(model=str(ws / "nanmodel"), data=[f"generic:{ws / 'pairs.jsonl'}"], dtype="float32"),
                   ws / "nancache", log=lambda _: None)
    return ws


@dataclass
class Case:
    id: str
    args: list[str]
    words: list[str]
    """Key words the message must hold (case-insensitive)."""
    absent: list[str]
    """Outputs (relative to the workspace) that must not exist afterwards."""
    usage: bool = False
    """A click usage error (its own box, exit 2) rather than a `rewardkit: error:` line."""
    env: dict[str, str] = field(default_factory=dict)
    """Environment variables the case sets."""


M = ["--model", "model"]
CATALOGUE = [
    # run
    Case("run/duplicate-key", ["run", "dup.yaml"], ["dup.yaml:6", "'lr' given twice", "line 4"], ["out-run"]),
    Case("run/unknown-key", ["run", "unknown.yaml"], ["unknown.yaml", "trian", "unknown key"], ["out-run"]),
    Case("run/invalid-yaml", ["run", "broken.yaml"], ["broken.yaml:2", "invalid yaml"], ["out-run"]),
    Case("run/out-dir-under-a-file", ["run", "run_blocked.yaml"], ["blocker/run", "not a directory"], ["blocker/run"]),
    Case("run/missing-recipe", ["run", "nope.yaml"], ["nope.yaml", "does not exist"], [], usage=True),
    Case("run/bad-override", ["run", "unknown.yaml", "out_dir"], ["override", "out_dir", "key=value"], ["out-run"]),
    # an output directory or file that holds a user's files (here its input too): refused before any work
    Case("run/out-dir-not-ours", ["run", "run_mine.yaml"], ["mine", "not written by rewardkit"], []),
    Case("data-convert/out-is-the-input", ["data", "convert", "generic:mine/pairs.jsonl", "--out", "mine/pairs.jsonl"],
         ["mine/pairs.jsonl", "is this command's input"], []),
    Case("data-fixtures/out-not-ours", ["data", "fixtures", "--out", "mine"], ["mine", "not written by rewardkit"], []),
    Case("decontaminate/out-not-ours", ["decontaminate", "--data", "generic:mine/pairs.jsonl", "--benchmark",
         f"xstest:{XSTEST}", "--out", "mine"], ["mine", "not written by rewardkit"], []),
    Case("curate/out-dir-not-ours", ["curate", "curate_mine.yaml"], ["mine", "not written by rewardkit"], []),
    Case("train/out-dir-not-ours", ["train", "train_mine.yaml"], ["mine", "not written by rewardkit"], []),
    Case("train/dry-run-out-dir-not-ours", ["train", "train_mine.yaml", "--dry-run"], ["mine", "not written by rewardkit"],
         []),
    Case("features/out-not-ours", ["features", *M, "--data", "generic:mine/pairs.jsonl", "--out", "mine"],
         ["mine", "not written by rewardkit"], []),
    Case("probe/out-not-ours", ["probe", "--features", "nocache", "--out", "mine"], ["mine", "not written by rewardkit"],
         []),
    Case("evaluate/out-not-ours", ["evaluate", *M, "--data", "generic:mine/pairs.jsonl", "--out", "mine"],
         ["mine", "not written by rewardkit"], []),
    Case("evaluate/recompute-out-not-ours", ["evaluate", "--scores", "scores_good.json", "--out", "mine"],
         ["mine", "not written by rewardkit"], []),
    Case("score/out-is-the-input", ["score", *M, "--data", "generic:mine/pairs.jsonl", "--out", "mine/pairs.jsonl"],
         ["mine/pairs.jsonl", "is this command's input"], []),
    Case("score/quarantine-not-ours", ["score", *M, "--data", "generic:pairs.jsonl", "--out", "mine/s.jsonl"],
         ["mine/s.jsonl.quarantine.jsonl", "not a quarantine file"], []),
    # data stats
    Case("data-stats/unknown-tokenizer", ["data", "stats", "--tokenizer", "nosuchtok", "generic:pairs.jsonl"],
         ["tokenizer 'nosuchtok'", "not an alias"], []),
    Case("data-stats/tokenizer-dir-missing", ["data", "stats", "--tokenizer", "./no/tok", "generic:pairs.jsonl"],
         ["./no/tok", "no such directory"], []),
    Case("data-stats/unknown-reader", ["data", "stats", "nosuchreader:pairs.jsonl"], ["unknown reader", "nosuchreader"], []),
    Case("data-stats/missing-file", ["data", "stats", "generic:missing.jsonl"], ["missing.jsonl"], []),
    Case("data-stats/bad-json-row", ["data", "stats", "generic:badjson.jsonl"], ["badjson.jsonl:2", "invalid json"], []),
    # data convert
    Case("data-convert/out-under-a-file", ["data", "convert", "generic:pairs.jsonl", "--out", "blocker/x.jsonl"],
         ["blocker/x.jsonl", "blocker is a file"], ["blocker/x.jsonl"]),
    Case("data-convert/out-is-a-dir", ["data", "convert", "generic:pairs.jsonl", "--out", "a_dir"],
         ["a_dir", "is a directory"], []),
    Case("data-convert/unknown-bad-row-policy", ["data", "convert", "generic:pairs.jsonl", "--out", "conv.jsonl",
         "--on-bad-row", "maybe"], ["--on-bad-row", "'maybe'"], ["conv.jsonl"]),
    Case("data-convert/bad-json-row", ["data", "convert", "generic:badjson.jsonl", "--out", "conv.jsonl"],
         ["badjson.jsonl:2", "invalid json"], ["conv.jsonl"]),
    Case("data-convert/not-parquet", ["data", "convert", "generic:notparquet.parquet", "--out", "conv.jsonl"],
         ["notparquet.parquet", "parquet"], ["conv.jsonl"]),
    Case("data-convert/option-typo", ["data", "convert", f"xstest:{XSTEST}?max_pair_per_prompt=1", "--out", "conv.jsonl"],
         ["max_pair_per_prompt", "max_pairs_per_prompt"], ["conv.jsonl"]),
    Case("data-convert/unknown-option", ["data", "convert", "generic:pairs.jsonl?foo=bar", "--out", "conv.jsonl"],
         ["foo"], ["conv.jsonl"]),
    Case("data-convert/empty-option", ["data", "convert", "generic:pairs.jsonl?split=", "--out", "conv.jsonl"],
         ["split"], ["conv.jsonl"]),
    Case("data-convert/truncated-gz", ["data", "convert", "generic:truncated.jsonl.gz", "--out", "conv.jsonl"],
         ["truncated.jsonl.gz"], ["conv.jsonl"]),
    Case("data-convert/not-gzip", ["data", "convert", "generic:plain.jsonl.gz", "--out", "conv.jsonl"],
         ["plain.jsonl.gz", "gzip"], ["conv.jsonl"]),
    Case("data-convert/invalid-utf8", ["data", "convert", "generic:latin1.jsonl", "--out", "conv.jsonl"],
         ["latin1.jsonl:2", "utf-8"], ["conv.jsonl"]),
    # data fixtures
    Case("data-fixtures/unknown-scale", ["data", "fixtures", "--out", "fx2", "--scale", "huge"], ["scale", "huge"], ["fx2"]),
    Case("data-fixtures/negative-seed", ["data", "fixtures", "--out", "fx2", "--seed", "-1"], ["seed", "-1"], ["fx2"]),
    Case("data-fixtures/out-under-a-file", ["data", "fixtures", "--out", "blocker/fx"], ["blocker", "not a directory"],
         ["blocker/fx"]),
    # decontaminate
    Case("decontaminate/empty-reference-set", ["decontaminate", "--data", "generic:pairs.jsonl", "--benchmark",
         "rewardbench:empty.jsonl", "--out", "dec"], ["rewardbench:empty.jsonl", "0 prompts"], ["dec/clean.jsonl", "dec/table4.json"]),
    Case("decontaminate/prompts-shorter-than-n", ["decontaminate", "--data", "generic:pairs.jsonl", "--benchmark",
         "generic:pairs.jsonl", "--out", "dec"], ["7 words", "every pair would pass"], ["dec/clean.jsonl", "dec/table4.json"]),
    Case("decontaminate/unknown-fields", ["decontaminate", "--data", "generic:pairs.jsonl", "--benchmark",
         f"xstest:{XSTEST}", "--out", "dec", "--fields", "prompt"], ["fields", "prompt"], ["dec/clean.jsonl"]),
    Case("decontaminate/n-zero", ["decontaminate", "--data", "generic:pairs.jsonl", "--out", "dec", "--n", "0"],
         ["--n", "greater than or equal to 1"], ["dec/clean.jsonl"]),
    Case("decontaminate/out-is-a-file", ["decontaminate", "--data", "generic:pairs.jsonl", "--benchmark",
         f"xstest:{XSTEST}", "--out", "blocker"], ["blocker", "is a file"], []),
    # curate
    Case("curate/two-sources-one-name", ["curate", "curate_twice.yaml"], ["curate_twice.yaml", "unique", "['A']"],
         ["out-curate"]),
    Case("curate/magpie-fraction-typo", ["curate", "curate_fraction.yaml"],
         ["Coding and Debugging", "categories seen", "Coding & Debugging"],
         ["out-magpie/pairs.parquet", "out-magpie/pairs.jsonl", "out-magpie/counts.json"]),
    Case("curate/duplicate-key", ["curate", "dup.yaml"], ["dup.yaml:6", "given twice"], ["out-run"]),
    # train
    Case("train/duplicate-key", ["train", "train_dup.yaml"], ["train_dup.yaml:4", "'lr' given twice"], ["runs"]),
    Case("train/negative-lr", ["train", "train_neg.yaml"], ["train_neg.yaml", "lr", "greater than 0"], ["runs"]),
    Case("train/missing-model-dir", ["train", "train_nomodel.yaml"], ["no/such/model/dir", "no such model directory"],
         ["out-train/model.safetensors", "out-train/config.json"]),
    # non-finite and out-of-domain settings: refused at validation, by key
    Case("train/nan-loss-param", ["train", "train_nan.yaml"], ["train_nan.yaml", "loss_params.gamma", "finite"], ["runs"]),
    Case("train/inf-lr", ["train", "train_inf.yaml"], ["train_inf.yaml", "lr", "finite"], ["runs"]),
    Case("train/nan-override", ["train", "train_neg.yaml", "lr=.nan"], ["lr", "finite"], ["runs"]),
    Case("train/negative-adam-eps", ["train", "train_eps.yaml"], ["adam_eps", "greater than 0", "-1"], ["runs"]),
    Case("train/adam-beta-one-or-more", ["train", "train_betas.yaml"], ["adam_betas.1", "less than 1"], ["runs"]),
    # a resume whose recipe alters the run, or of a folder that is no run
    Case("train/resume-with-another-lr", ["train", "train_resume.yaml"], ["oldrun", "lr: 1e-05 -> 2e-05", "alters the run"],
         ["oldrun/model"]),
    Case("train/resume-with-another-model", ["train", "train_resume.yaml", "lr=1.0e-5", "model=a_dir"],
         ["model: 'model' -> 'a_dir'"], ["oldrun/model"]),
    Case("train/resume-not-a-run", ["train", "train_resume_none.yaml"], ["a_dir", "not a training run directory"],
         ["a_dir/model"]),
    Case("features/missing-data", ["features", "--data", "pairs:nope.jsonl", "--out", "out-feat"], ["nope.jsonl"],
         ["out-feat"]),
    Case("features/layer-beyond-the-model", ["features", *M, "--data", "generic:pairs.jsonl", "--out", "out-feat",
         "--layers", "99"], ["--layers 99", "2 decoder layers"], ["out-feat"]),
    Case("features/negative-layer", ["features", *M, "--data", "generic:pairs.jsonl", "--out", "out-feat",
         "--layers", "-1"], ["--layers -1"], ["out-feat"]),
    Case("features/nan-option", ["features", *M, "--data", "generic:pairs.jsonl?max_pairs_per_prompt=nan", "--out",
         "out-feat"], ["max_pairs_per_prompt"], ["out-feat"]),
    Case("probe/unknown-loss", ["probe", "--features", "nocache", "--out", "out-probe", "--loss", "nope"],
         ["loss 'nope'", "bradley_terry"], ["out-probe"]),
    Case("probe/val-fraction-zero", ["probe", "--features", "nocache", "--out", "out-probe", "--val-fraction", "0"],
         ["--val-fraction", "greater than 0"], ["out-probe"]),
    Case("probe/nan-lr", ["probe", "--features", "nocache", "--out", "out-probe", "--lr", "nan"],
         ["--lr", "finite"], ["out-probe"]),
    Case("probe/one-cache-twice", ["probe", "--features", "nocache", "--features", "./nocache", "--out", "out-probe"],
         ["--features", "a cache given twice"], ["out-probe"]),
    # a broken model: its NaN never becomes a score, a probe or a model
    Case("score/nan-model", ["score", "--model", "nanmodel", "--data", "generic:pairs.jsonl", "--out", "s.jsonl"],
         ["nanmodel", "not finite", "nothing written"], ["s.jsonl"]),
    Case("evaluate/nan-model", ["evaluate", "--model", "nanmodel", "--data", "generic:pairs.jsonl", "--out", "ev"],
         ["scores of nanmodel", "finite"], ["ev/results.json"]),
    Case("probe/nan-features", ["probe", "--features", "nancache", "--out", "out-probe"],
         ["nancache", "hold nan or inf"], ["out-probe"]),
    Case("probe/no-cache", ["probe", "--features", "nocache", "--out", "out-probe"], ["nocache", "no feature cache"],
         ["out-probe"]),
    # evaluate
    # score files of the set benchmarks: each example its section's rule cannot score, by file, section, index, id
    Case("evaluate/rb2-unknown-subset", ["evaluate", "--scores", "scores_rb2_subset.json"],
         ["scores_rb2_subset.json", "rewardbench2.examples[0] (id '0')", "unknown subset 'Factualty'"], []),
    Case("evaluate/rb2-num-correct-beyond-the-scores", ["evaluate", "--scores", "scores_rb2_correct.json"],
         ["rewardbench2.examples[0]", "num_correct", "2 correct of 2 completions"], []),
    Case("evaluate/rb2-empty-scores", ["evaluate", "--scores", "scores_rb2_empty.json"],
         ["rewardbench2.examples[0]", "1 correct of 0 completions"], []),
    Case("evaluate/rb2-two-correct-outside-ties", ["evaluate", "--scores", "scores_rb2_two_correct.json"],
         ["num_correct", "math sets have one correct completion"], []),
    Case("evaluate/rb2-ties-id", ["evaluate", "--scores", "scores_rb2_ties_id.json"], ["'ref:n' or 'tied:n'"], []),
    Case("evaluate/rmbench-short-scores", ["evaluate", "--scores", "scores_rm_short.json"],
         ["rmbench.examples[0] (id '0')", "score_chosen", "holds 2 scores"], []),
    Case("evaluate/rmbench-empty-scores", ["evaluate", "--scores", "scores_rm_empty.json"],
         ["score_rejected", "holds 0 scores"], []),
    Case("evaluate/rmbench-unknown-domain", ["evaluate", "--scores", "scores_rm_domain.json"],
         ["rmbench.examples[0]", "unknown domain 'chatt'"], []),
    Case("evaluate/bon-scores-and-ratings-differ", ["evaluate", "--scores", "scores_bon_lengths.json"],
         ["best_of_n.examples[0] (id '0')", "3 scores for 2 ratings"], []),
    Case("evaluate/bon-one-response", ["evaluate", "--scores", "scores_bon_one.json"],
         ["best_of_n.examples[0]", "1 responses: best-of-n needs at least 2"], []),
    Case("evaluate/rb2-data-unknown-subset", ["evaluate", *M, "--data", "rewardbench2:rb2_typo.jsonl", "--out", "ev"],
         ["rb2_typo.jsonl:1", "subset", "unknown subset 'Factualty'"], ["ev/results.json"]),
    Case("evaluate/compare-out-not-ours", ["evaluate", "--scores", "scores_good.json", "--scores", "scores_good.json",
         "--out", "mine"], ["mine", "not written by rewardkit"], []),
    # half a UTF-16 surrogate pair: valid JSON, not text
    Case("data-convert/lone-surrogate", ["data", "convert", "generic:surrogate.jsonl", "--out", "conv.jsonl"],
         ["surrogate.jsonl:2", "prompt (character 5)", "lone utf-16 surrogate"], ["conv.jsonl"]),
    Case("score/lone-surrogate", ["score", *M, "--data", "generic:surrogate.jsonl", "--out", "s.jsonl"],
         ["surrogate.jsonl:2", "prompt", "lone utf-16 surrogate"], ["s.jsonl"]),
    Case("evaluate/scores-lone-surrogate", ["evaluate", "--scores", "scores_surrogate.json"],
         ["scores_surrogate.json", "examples[0].id", "lone utf-16 surrogate"], []),
    Case("evaluate/nan-score", ["evaluate", "--scores", "scores_nan.json"], ["scores_nan.json", "examples[1]", "finite"], []),
    Case("evaluate/duplicate-id", ["evaluate", "--scores", "scores_dup.json"], ["examples[1]", "'0'", "given twice"], []),
    Case("evaluate/unknown-subset", ["evaluate", "--scores", "scores_subset.json"],
         ["alpaca-eval-easy", "does not know"], []),
    Case("evaluate/score-not-a-number", ["evaluate", "--scores", "scores_str.json"], ["score_chosen", "not a number"], []),
    Case("evaluate/invalid-json", ["evaluate", "--scores", "scores_broken.json"], ["scores_broken.json", "invalid json"], []),
    Case("evaluate/no-examples", ["evaluate", "--scores", "scores_none.json"], ["scores_none.json", "examples"], []),
    Case("evaluate/scores-with-a-model", ["evaluate", "--scores", "scores_nan.json", *M], ["--scores", "without --model"],
         []),
    Case("evaluate/missing-model-dir", ["evaluate", "--model", "runs/no/model", "--data", "generic:pairs.jsonl",
         "--out", "ev"], ["runs/no/model", "no such model directory"], ["ev/results.json"]),
    Case("evaluate/negative-batch-tokens", ["evaluate", *M, "--data", "generic:pairs.jsonl", "--out", "ev",
         "--batch-tokens", "-5"], ["--batch-tokens", "greater than 0", "-5"], ["ev/results.json"]),
    Case("evaluate/bad-dtype", ["evaluate", *M, "--data", "generic:pairs.jsonl", "--out", "ev", "--dtype", "float7"],
         ["--dtype", "float7"], ["ev/results.json"]),
    Case("evaluate/out-under-a-file", ["evaluate", *M, "--data", "generic:pairs.jsonl", "--out", "blocker/ev"],
         ["blocker/ev", "blocker is a file"], ["blocker/ev"]),
    # score
    Case("score/max-length-zero", ["score", *M, "--data", "generic:pairs.jsonl", "--out", "s.jsonl", "--max-length", "0"],
         ["--max-length", "greater than or equal to 1"], ["s.jsonl"]),
    # the tiny template takes 5 tokens around an empty prompt and reply: "<s> <|user|> <|end|> <|assistant|> <|end|>"
    Case("score/max-length-below-the-template", ["score", *M, "--data", "generic:long.jsonl", "--out", "s.jsonl",
         "--max-length", "5"], ["--max-length 5", "no response token", "takes 5 tokens"], ["s.jsonl"]),
    Case("evaluate/max-length-below-the-template", ["evaluate", *M, "--data", "generic:long.jsonl", "--out", "ev",
         "--max-length", "3"], ["--max-length 3", "takes 5 tokens"], ["ev/results.json"]),
    Case("score/negative-batch-tokens", ["score", *M, "--data", "generic:pairs.jsonl", "--out", "s.jsonl",
         "--batch-tokens", "-5"], ["--batch-tokens", "-5"], ["s.jsonl"]),
    Case("score/bad-dtype", ["score", *M, "--data", "generic:pairs.jsonl", "--out", "s.jsonl", "--dtype", "float7"],
         ["float7"], ["s.jsonl"]),
    Case("score/missing-model-dir", ["score", "--model", "./nomodel", "--data", "generic:pairs.jsonl", "--out", "s.jsonl"],
         ["./nomodel", "no such model directory"], ["s.jsonl"]),
    Case("score/not-a-model-dir", ["score", "--model", "a_dir", "--data", "generic:pairs.jsonl", "--out", "s.jsonl"],
         ["a_dir", "no config.json"], ["s.jsonl"]),
    Case("score/unknown-hub-model", ["score", "--model", "nosuch/model", "--data", "generic:pairs.jsonl", "--out", "s.jsonl"],
         ["'nosuch/model'", "hub could not provide"], ["s.jsonl"]),
    Case("score/out-is-a-dir", ["score", *M, "--data", "generic:pairs.jsonl", "--out", "a_dir"], ["a_dir", "is a directory"], []),
    # serve (nothing may start listening: every case fails before uvicorn runs)
    Case("serve/port-out-of-range", ["serve", *M, "--port", "99999"], ["--port", "65535"], []),
    Case("serve/missing-model-dir", ["serve", "--model", "/no/such/model"], ["/no/such/model", "no such model directory"], []),
    Case("serve/empty-api-key", ["serve", *M, "--api-key", ""], ["--api-key", "empty"], []),
    Case("serve/non-ascii-api-key", ["serve", *M, "--api-key", "clé"], ["--api-key", "printable ascii"], []),
    Case("serve/empty-api-key-in-env", ["serve", *M], ["REWARDKIT_API_KEY", "empty"], [],
         env={"REWARDKIT_API_KEY": ""}),
    Case("serve/max-length-below-the-template", ["serve", *M, "--max-length", "3"], ["--max-length 3", "takes 5 tokens"], []),
    Case("serve/nan-wait", ["serve", *M, "--max-wait-ms", "nan"], ["--max-wait-ms", "finite"], []),
    Case("serve/bad-dtype", ["serve", *M, "--dtype", "float7"], ["--dtype", "'float7'", "bfloat16"], []),
    # report (nothing is written when a stage output cannot be read)
    Case("report/missing-run-dir", ["report", "no_such_run"], ["no_such_run", "no such run directory"],
         ["no_such_run/report.html"]),
    Case("report/not-a-run", ["report", "mine"], ["mine", "not a run directory"], ["mine/report.html"]),
    Case("report/broken-stage-output", ["report", "badrun"], ["badrun/evaluate/results.json", "invalid JSON"],
         ["badrun/report.html"]),
]


def test_serve_on_a_busy_port_fails_before_loading_the_model(ws, offline, capsys, monkeypatch):
    import socket

    monkeypatch.chdir(ws)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        status, out, err = run_main(["serve", "--model", "no/such/model/dir", "--port", str(port)], capsys, monkeypatch)
    assert status == 2 and out == ""
    assert err == f"rewardkit: error: --host 127.0.0.1 --port {port}: cannot listen there: Address already in use\n"
    status, _, err = run_main(["serve", "--host", "no-such-host.invalid", *M], capsys, monkeypatch)
    assert status == 2 and err.startswith("rewardkit: error: --host no-such-host.invalid --port 8000: cannot listen")


def _params() -> list:
    return [pytest.param(c, id=c.id) for c in CATALOGUE]


@pytest.fixture()
def offline(monkeypatch):
    """No hub: a name that is not local must fail at once (the default retries for ~50 s)."""
    import huggingface_hub.constants as hub

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hub, "HF_HUB_OFFLINE", True)
    monkeypatch.delenv("RK_DEBUG", raising=False)


def run_main(args: list[str], capsys, monkeypatch) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of `rewardkit ARGS` through the console entry point. An exception
    escaping main() would be a traceback: it fails the test by propagating."""
    monkeypatch.setattr(sys, "argv", ["rewardkit", *args])
    try:
        main()
        status = 0
    except SystemExit as e:
        status = e.code if isinstance(e.code, int) else 1
    out = capsys.readouterr()
    return status, out.out, out.err


def test_the_catalogue_covers_every_command():
    commands = {c.args[0] if c.args[0] != "data" else f"data {c.args[1]}" for c in CATALOGUE}
    assert commands == {"run", "data stats", "data convert", "data fixtures", "decontaminate", "curate", "train",
                        "evaluate", "score", "serve", "features", "probe", "report"}


@pytest.mark.parametrize("case", _params())
def test_bad_input_fails_with_one_clear_line(case: Case, ws, offline, capsys, monkeypatch):
    monkeypatch.chdir(ws)
    for name, value in case.env.items():
        monkeypatch.setenv(name, value)
    status, out, err = run_main(case.args, capsys, monkeypatch)
    text = out + err
    assert status != 0, f"exit 0 for bad input; output:\n{text[-2000:]}"
    assert "Traceback" not in text and 'File "' not in text, text[-3000:]
    if case.usage:
        assert status == 2 and "Invalid value" in text
        message = text
    else:
        errors = [line for line in err.splitlines() if line.startswith("rewardkit: error: ")]
        assert len(errors) == 1, f"expected one 'rewardkit: error:' line on stderr, got:\n{err[-2000:]}"
        assert status == 2, f"a user error exits 2 (rewardkit.errors.USAGE_STATUS), got {status}"
        message = errors[0]
    for word in case.words:
        assert word.lower() in message.lower(), f"{word!r} not in {message!r}"
    for rel in case.absent:
        assert not (ws / rel).exists(), f"{rel} was left behind"
    mine = {str(p.relative_to(ws / "mine")): p.read_text(encoding="utf-8") for p in (ws / "mine").rglob("*") if p.is_file()}
    assert mine == MINE, "a file rewardkit did not write was changed, added or removed"
    assert not list(ws.rglob(".tmp-*")), "a temporary file was left behind"


def test_rk_debug_shows_the_traceback_and_a_bug_is_one_line_too(ws, tmp_path):
    """Through a real process: RK_DEBUG=1 gives the traceback; an unexpected exception (a bug) is one
    `internal error` line without it."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    env.pop("RK_DEBUG", None)
    args = [sys.executable, "-m", "rewardkit.cli", "evaluate", "--scores", "scores_nan.json"]
    plain = subprocess.run(args, cwd=ws, env=env, capture_output=True, text=True, timeout=300)
    debug = subprocess.run(args, cwd=ws, env={**env, "RK_DEBUG": "1"}, capture_output=True, text=True, timeout=300)
    assert plain.returncode == 2 and plain.stdout == ""
    assert plain.stderr.startswith("rewardkit: error: scores_nan.json: examples[1]") and plain.stderr.count("\n") == 1
    assert debug.returncode != 0 and "Traceback" in debug.stderr and "UserError" in debug.stderr


def test_an_unexpected_exception_is_reported_as_a_bug_on_one_line(capsys, monkeypatch):
    import rewardkit.evaluation.run as run

    def boom(*_a, **_k):
        raise KeyError("sections")

    monkeypatch.delenv("RK_DEBUG", raising=False)
    monkeypatch.setattr(run, "recompute", boom)
    status, out, err = run_main(["evaluate", "--scores", "x.json"], capsys, monkeypatch)
    assert status == 1 and out == ""
    assert err == ("rewardkit: internal error: KeyError: 'sections' (a bug: rerun with RK_DEBUG=1 for the "
                   "traceback and report it)\n")


def test_comparing_score_files_with_out_writes_the_comparison(ws, offline, capsys, monkeypatch, tmp_path):
    """`evaluate --scores A --scores B --out D` used to print and write nothing; D/comparison.json has the rows."""
    monkeypatch.chdir(ws)
    out = tmp_path / "cmp"
    status, stdout, err = run_main(["evaluate", "--scores", "scores_good.json", "--scores", "scores_dup_free.json",
                                    "--out", str(out)], capsys, monkeypatch)
    assert status == 0, err
    written = json.loads((out / "comparison.json").read_text())
    assert written["files"] == ["scores_good.json", "scores_dup_free.json"] and f"wrote {out}" in " ".join(stdout.split())
    row = next(r for r in written["rows"] if r["row"] == "alpacaeval-easy")
    # by hand: A ranks example 0 right and example 1 wrong (-1 < 0); B ranks both right
    assert (row["n"], row["a"], row["b"], row["diff"]) == (2, 0.5, 1.0, 0.5)
