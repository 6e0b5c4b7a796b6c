"""The validators behind the bad-input suite, one by one: duplicate YAML keys, score-file checks (with the
notes they print, derived by hand), curation names, output paths, model names and error formatting."""

from __future__ import annotations

import math

import pytest
from pydantic import ValidationError

from rewardkit.errors import UserError, check_output_dir, check_output_file, one_line, user_message
from rewardkit.evaluation.checks import check_examples, check_max_length
from rewardkit.evaluation.rewardbench import SUBSET_MAPPING
from rewardkit.recipe import RecipeError, StrictModel, load_recipe


class _Small(StrictModel):
    lr: float = 1.0
    """A learning rate."""
    nested: dict[str, int] = {}
    """Any mapping."""


def test_a_key_given_twice_names_both_lines_at_any_depth(tmp_path):
    top = tmp_path / "top.yaml"
    top.write_text("lr: 1.0\nnested: {}\nlr: 2.0\n")
    with pytest.raises(RecipeError, match=r"top.yaml:3: key 'lr' given twice \(first at line 1\)$"):
        load_recipe(top, _Small)
    deep = tmp_path / "deep.yaml"
    deep.write_text("nested:\n  a: 1\n  b: 2\n  a: 3\n")
    with pytest.raises(RecipeError, match=r"deep.yaml:4: key 'a' given twice \(first at line 2\)"):
        load_recipe(deep, _Small)


def test_merge_keys_may_be_overridden_and_distinct_keys_load(tmp_path):
    f = tmp_path / "merge.yaml"
    f.write_text("nested:\n  <<: {a: 1, b: 2}\n  a: 5\nlr: 0.5\n")
    got = load_recipe(f, _Small)
    assert got.nested == {"a": 5, "b": 2} and got.lr == 0.5


def test_recipe_errors_are_one_line(tmp_path):
    f = tmp_path / "r.yaml"
    f.write_text("lr: fast\nnested: {a: x}\nextra: 1\n")
    with pytest.raises(RecipeError) as e:
        load_recipe(f, _Small)
    assert "\n" not in str(e.value)
    assert str(e.value) == (f"{f}: invalid recipe: lr: Input should be a valid number, unable to parse string as a "
                            "number (got 'fast'); nested.a: Input should be a valid integer, unable to parse string "
                            "as an integer (got 'x'); extra: unknown key")


def _ex(i, subset, sc=1.0, sr=0.0, dataset="rb"):
    return {"id": i, "subset": subset, "dataset": dataset, "score_chosen": sc, "score_rejected": sr}


def test_score_files_refuse_non_finite_scores_duplicate_ids_and_unknown_subsets():
    for bad in (math.nan, math.inf, -math.inf):
        with pytest.raises(UserError, match=r"f.json: examples\[1\] \(id 'b'\): field 'score_rejected' is .*finite"):
            check_examples([_ex("a", "mt-bench-easy"), _ex("b", "mt-bench-easy", sr=bad)], "f.json")
    with pytest.raises(UserError, match=r"examples\[2\]: id 'a' of dataset 'rb' given twice \(first at examples\[0\]\)"):
        check_examples([_ex("a", "mt-bench-easy"), _ex("b", "mt-bench-easy"), _ex("a", "mt-bench-med")], "f.json")
    # the same id in two datasets is two examples
    check_examples([_ex("a", "mt-bench-easy"), _ex("a", "mt-bench-easy", dataset="rb2")], "f.json")
    with pytest.raises(UserError, match=r"dataset 'rb' has RewardBench subsets and subsets RewardBench does not know: "
                                        r"\['mt-bench-esay'\]"):
        check_examples([_ex("a", "mt-bench-easy"), _ex("b", "mt-bench-esay")], "f.json")
    with pytest.raises(UserError, match="field 'score_chosen' missing or not a number"):
        check_examples([_ex("a", "mt-bench-easy", sc=True)], "f.json")
    with pytest.raises(UserError, match="no 'examples' list"):
        check_examples([], "f.json")


def test_score_file_notes_name_missing_subsets_and_datasets_without_sections():
    chat = SUBSET_MAPPING["Chat"]
    examples = [_ex(str(i), s) for i, s in enumerate(chat[:3])] + [_ex("h1", "helpful-base", dataset="hh")]
    notes = check_examples(examples, "f.json")
    assert notes == [
        "hh: no RewardBench subsets (helpful-base): accuracy only, no section score",
        "Chat: computed without mt-bench-easy, mt-bench-med (missing)",
        "Chat Hard: all 6 subsets missing (section not computed)",
        "Safety: all 5 subsets missing (section not computed)",
        "Reasoning: all 7 subsets missing (section not computed)",
    ]
    every = [_ex(s, s) for subsets in SUBSET_MAPPING.values() for s in subsets]
    assert check_examples(every, "f.json") == []


def test_max_length_must_exceed_the_template_of_an_empty_conversation():
    from tiny_models import tiny_tokenizer

    tok = tiny_tokenizer()  # "<s> <|user|> <|end|> <|assistant|> <|end|>": 5 tokens
    with pytest.raises(UserError, match="takes 5 tokens"):
        check_max_length(tok, 5)
    with pytest.raises(UserError, match=r"^rm_agreement.max_length 4 leaves no response token"):
        check_max_length(tok, 4, "rm_agreement.max_length")  # the curation RM filter checks its key too
    check_max_length(tok, 6)
    check_max_length(tok, None)


def test_curation_refuses_two_sources_with_one_name():
    from rewardkit.curation.config import CurateConfig

    with pytest.raises(ValidationError, match=r"given more than once: \['A'\]"):
        CurateConfig.model_validate({"sources": [{"name": "A", "spec": "x:"}, {"name": "A", "spec": "y:"}]})
    with pytest.raises(ValidationError, match="'Magpie' is the magpie section's name"):
        CurateConfig.model_validate({"sources": [{"name": "Magpie", "spec": "x:"}], "magpie": {}})
    CurateConfig.model_validate({"sources": [{"name": "A", "spec": "x:"}, {"name": "B", "spec": "x:"}]})


def test_output_paths_are_checked_before_any_work(tmp_path):
    blocker = tmp_path / "f"
    blocker.write_text("x")
    with pytest.raises(UserError, match=f"{blocker} is a file, not a directory"):
        check_output_file(blocker / "deep" / "out.jsonl")
    with pytest.raises(UserError, match="is a directory"):
        check_output_file(tmp_path)
    with pytest.raises(UserError, match="is a file"):
        check_output_dir(blocker)
    assert check_output_file(tmp_path / "new" / "deeper" / "out.jsonl") == tmp_path / "new" / "deeper" / "out.jsonl"
    assert not (tmp_path / "new").exists()  # checking creates nothing


def test_model_names_that_cannot_be_loaded_fail_before_transformers(tmp_path):
    from rewardkit.models.loading import check_dtype, resolve

    with pytest.raises(UserError, match="no such model directory"):
        resolve(tmp_path / "missing")
    with pytest.raises(UserError, match=r"no config.json"):
        resolve(tmp_path)
    assert resolve("owner/name") == "owner/name"  # a hub id goes on to the hub
    with pytest.raises(UserError, match="dtype 'float7': expected one of auto, bfloat16, float32, float16"):
        check_dtype("float7")


def test_user_messages_are_one_line_and_bugs_are_not_user_errors():
    assert one_line("head:\n  a: x\n\n  b: y\n") == "head: a: x; b: y"
    assert user_message(NotADirectoryError(20, "Not a directory", "out/x")) == "out/x: Not a directory"
    assert user_message(EOFError("Compressed file ended")) == "Compressed file ended"
    assert user_message(KeyError("x")) is None and user_message(TypeError("x")) is None
    with pytest.raises(ValidationError) as e:
        _Small(lr="fast")
    assert user_message(e.value) == ("--lr: Input should be a valid number, unable to parse string as a number "
                                     "(got 'fast')")


# ---------------------------------------------------------------- outputs: never a file rewardkit did not write
def test_an_output_dir_must_be_new_empty_or_marked_as_ours(tmp_path):
    from rewardkit.errors import OWNED_MARKER, is_owned_dir, own_output_dir

    assert is_owned_dir(tmp_path / "new") and is_owned_dir(tmp_path)  # absent; empty
    (tmp_path / "theirs.txt").write_text("mine")
    with pytest.raises(UserError, match=r"not empty and not written by rewardkit \(no \.rewardkit-output in it\)"):
        check_output_dir(tmp_path)
    out = own_output_dir(tmp_path / "run")
    assert (out / OWNED_MARKER).is_file() and own_output_dir(out) == out  # ours: taken again
    (out / "later.txt").write_text("x")
    assert check_output_dir(out) == out  # a run dir of ours with more in it is still ours to write into


def test_a_directory_replaced_whole_goes_only_while_it_holds_nothing_but_what_rewardkit_wrote(tmp_path):
    from rewardkit.data.io import atomic_dir

    dest = tmp_path / "cache"
    with atomic_dir(dest, marker="done", replace=True) as tmp:
        (tmp / "a.npy").write_text("1")
        (tmp / "done").write_text("")
    with atomic_dir(dest, marker="done", replace=True) as tmp:  # ours: swapped for the new copy
        (tmp / "b.npy").write_text("2")
    assert sorted(p.name for p in dest.iterdir()) == [".rewardkit-output", "b.npy"]
    (dest / "notes.txt").write_text("the user's")
    with pytest.raises(UserError, match=r"cache: holds notes.txt, which rewardkit did not write"):
        with atomic_dir(dest, marker="done", replace=True) as tmp:
            pass
    assert (dest / "notes.txt").read_text() == "the user's" and (dest / "b.npy").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["cache"]  # no temporary left
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "x").write_text("x")
    with pytest.raises(UserError, match="theirs: not empty and not written by rewardkit"):
        with atomic_dir(theirs, marker="done", replace=True) as tmp:
            pass


def test_an_output_file_that_is_an_input_and_a_quarantine_path_holding_another_file_are_refused(tmp_path):
    from rewardkit.data.io import DataError
    from rewardkit.data.sources.base import fresh_quarantine

    data = tmp_path / "pairs.jsonl"
    data.write_text("{}\n")
    with pytest.raises(UserError, match="pairs.jsonl: is this command's input"):
        check_output_file(tmp_path / "." / "pairs.jsonl", [data])
    assert check_output_file(tmp_path / "out.jsonl", [data]) == tmp_path / "out.jsonl"
    q = tmp_path / "q.jsonl"
    q.write_text("my notes\n")
    with pytest.raises(DataError, match="q.jsonl: exists and is not a quarantine file rewardkit wrote"):
        fresh_quarantine(q)
    assert q.read_text() == "my notes\n"
    q.write_text('{"spec": "generic:x", "line": 3, "reason": "bad"}\n')  # one of ours: started afresh
    assert fresh_quarantine(q) == q and not q.exists()


# ---------------------------------------------------------------- settings: no NaN or inf anywhere
def _holds_float(annotation) -> bool:
    import typing

    if annotation is float:
        return True
    if typing.get_origin(annotation) is typing.Literal:
        return False
    return any(_holds_float(a) for a in typing.get_args(annotation))


def _with(annotation, bad):
    """A value of `annotation`'s shape with `bad` where its float goes (float, list/tuple/dict of floats, optional)."""
    import typing

    if annotation is float:
        return bad
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    inner = next(a for a in args if _holds_float(a))
    if origin is dict:
        return {"x": _with(inner, bad)}
    if origin in (list, tuple):
        return [_with(a, bad) for a in (args if origin is tuple and ... not in args else [inner])]
    return _with(inner, bad)  # a union


def _float_fields():
    """(model, field) for every float-valued setting of every recipe and option model."""
    import rewardkit.cli  # noqa: F401 - imports every command's model
    import rewardkit.pipeline  # noqa: F401
    import rewardkit.probing.run  # noqa: F401

    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    seen = set()
    for model in subclasses(StrictModel):
        for name, info in model.model_fields.items():
            if _holds_float(info.annotation) and (model.__name__, name) not in seen:
                seen.add((model.__name__, name))
                yield model, name


def test_every_float_setting_of_every_model_refuses_nan_and_inf():
    fields = list(_float_fields())
    names = {f"{m.__name__}.{n}" for m, n in fields}
    assert {"TrainConfig.lr", "TrainConfig.loss_params", "ProbeRecipe.l2", "ServeConfig.max_wait_ms"} <= names
    for model, name in fields:
        for bad in (math.nan, math.inf):
            with pytest.raises(ValidationError) as e:
                model.model_validate({name: _with(model.model_fields[name].annotation, bad)})
            assert any(err["loc"][0] == name and err["type"] == "finite_number" for err in e.value.errors()), \
                (model.__name__, name, e.value.errors())


def test_a_whole_model_check_names_its_keys_itself():
    from rewardkit.probing.options import ProbeOptions

    with pytest.raises(ValidationError) as e:
        ProbeOptions(loss="focal", loss_params={"gama": 2.0})
    assert user_message(e.value) == "loss_params ['gama'] not accepted by focal (accepts: ['gamma'])"


# ---------------------------------------------------------------- text: half a surrogate pair is not text
def test_a_lone_surrogate_is_found_where_it_is_and_a_whole_pair_passes():
    import json

    from rewardkit.data.io import check_surrogates, lone_surrogate

    assert lone_surrogate(json.loads('{"a": [1, "x", {"b": "ok", "c": "\\ud800z"}], "d": "\\udc00"}')) == "a[2].c (character 0)"
    smile = '{"a": "\\ud83d\\ude00"}'  # a whole pair is one character
    assert json.loads(smile)["a"] == "\U0001F600" and check_surrogates(smile, json.loads(smile)) is None
    deep = "[" * 900 + '"\\udfff"' + "]" * 900  # as deep as json takes, no recursion here
    assert lone_surrogate(json.loads(deep)) == "[0]" * 900 + " (character 0)"
