"""Per-example scores are checked before any number is computed from them.

    from rewardkit.evaluation.checks import check_examples, check_set_examples
    notes = check_examples(examples, "runs/eval/results.json")   # raises UserError; notes are printed
    check_set_examples("rmbench", results["rmbench"]["examples"], "runs/eval/results.json")

Refused, naming the file, the example index and id:
- a score that is missing, not a number, NaN or infinite (every comparison with NaN is False, so a NaN
  example silently counts as wrong);
- an id given twice within one dataset (it would be counted twice);
- a subset name RewardBench does not know inside a dataset that has RewardBench subsets (a misspelt
  subset silently leaves its section).
- in the set benchmarks (RewardBench 2, RM-Bench, best-of-N), a set its section's rule cannot score: a
  subset or domain the benchmark does not have (it would enter the mean as one more), a score list of
  the wrong length or empty, `num_correct` beyond the scores, fewer responses than the rule compares.
Reported, not refused: datasets with no RewardBench subsets at all (accuracy only, by design) and the
RewardBench subsets a section is missing (sections are computed from the subsets present).

`check_max_length` refuses a scoring max_length that cannot hold the chat template around an empty prompt
and reply: such a budget scores a few response tokens with no prompt at all (`score
--max-length 3` would give chosen and rejected identical scores whenever their first words match).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from rewardkit.data.sources.rewardbench2 import set_problem
from rewardkit.data.sources.rmbench import DOMAINS as RMBENCH_DOMAINS
from rewardkit.data.sources.rmbench import STYLES
from rewardkit.errors import UserError
from rewardkit.evaluation.rewardbench import EXAMPLE_COUNTS, PRIOR_SUBSETS, SUBSET_MAPPING
from rewardkit.models.tokenization import encode_conversation

KNOWN_SUBSETS = frozenset(EXAMPLE_COUNTS) | frozenset(PRIOR_SUBSETS)
# The set benchmarks' stored example fields and their types, checked before `--scores` recomputes anything.
SET_FIELDS = {
    "rewardbench2": {"subset": str, "scores": list, "num_correct": int},
    "rmbench": {"domain": str, "score_chosen": list, "score_rejected": list},
    "best_of_n": {"dataset": str, "scores": list, "ratings": list},
}


def check_examples(examples: object, where: str) -> list[str]:
    """Raise UserError for examples no number may come from; return the notes to print beside them."""
    if not isinstance(examples, list) or not examples:
        raise UserError(f"{where}: no 'examples' list; expected a results.json written by `rewardkit evaluate`")
    seen: dict[tuple[str, object], int] = {}
    for i, e in enumerate(examples):
        _check_fields(e, i, where)
        key = (str(e.get("dataset", "all")), e["id"])
        if key in seen:
            raise UserError(f"{where}: examples[{i}]: id {e['id']!r} of dataset {key[0]!r} given twice "
                            f"(first at examples[{seen[key]}])")
        seen[key] = i
    _check_subsets(examples, where)
    return [*_unknown_notes(examples), *_missing_notes({e["subset"] for e in examples})]


def _check_fields(e: object, i: int, where: str) -> None:
    if not isinstance(e, Mapping):
        raise UserError(f"{where}: examples[{i}]: expected an object, got {type(e).__name__}")
    at = f"{where}: examples[{i}] (id {e.get('id')!r})"
    if not isinstance(e.get("id"), (str, int)) or isinstance(e.get("id"), bool):
        raise UserError(f"{at}: field 'id' missing or not a string")
    if not isinstance(e.get("subset"), str) or not e["subset"]:
        raise UserError(f"{at}: field 'subset' missing or not a non-empty string")
    for key in ("score_chosen", "score_rejected"):
        v = e.get(key)
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            raise UserError(f"{at}: field {key!r} missing or not a number (got {v!r})")
        if not math.isfinite(v):
            raise UserError(f"{at}: field {key!r} is {v}: scores must be finite")


def _datasets(examples: Sequence[Mapping]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for e in examples:
        out.setdefault(str(e.get("dataset", "all")), set()).add(e["subset"])
    return out


def _check_subsets(examples: Sequence[Mapping], where: str) -> None:
    for dataset, subsets in _datasets(examples).items():
        unknown = sorted(subsets - KNOWN_SUBSETS)
        if unknown and subsets & KNOWN_SUBSETS:
            raise UserError(f"{where}: dataset {dataset!r} has RewardBench subsets and subsets RewardBench does "
                            f"not know: {unknown}; known subsets: {sorted(KNOWN_SUBSETS)}")


def _unknown_notes(examples: Sequence[Mapping]) -> list[str]:
    return [f"{dataset}: no RewardBench subsets ({', '.join(sorted(subsets))}): accuracy only, no section score"
            for dataset, subsets in _datasets(examples).items() if not subsets & KNOWN_SUBSETS]


def _missing_notes(present: set[str]) -> list[str]:
    """One note per section with RewardBench subsets missing, naming them ("all N" when none is there)."""
    if not present & KNOWN_SUBSETS:
        return []
    notes = []
    for section, subsets in SUBSET_MAPPING.items():
        missing = [s for s in subsets if s not in present]
        if len(missing) == len(subsets):
            notes.append(f"{section}: all {len(subsets)} subsets missing (section not computed)")
        elif missing:
            notes.append(f"{section}: computed without {', '.join(missing)} (missing)")
    return notes


def check_set_examples(section: str, examples: object, where: str) -> None:
    """The stored examples of one section, each checked for its fields (finite numbers) and no id given
    twice in one subset/domain/dataset; UserError naming the example otherwise."""
    if not isinstance(examples, list) or not examples:
        raise UserError(f"{where}: '{section}.examples' missing or empty")
    group_key = next(iter(SET_FIELDS[section]))  # subset / domain / dataset
    seen: dict[tuple, int] = {}
    for i, e in enumerate(examples):
        e = e if isinstance(e, dict) else {}
        at = f"{where}: {section}.examples[{i}] (id {e.get('id')!r}): field"
        for key, kind in SET_FIELDS[section].items():
            value = e.get(key)
            if not isinstance(value, kind) or isinstance(value, bool):
                raise UserError(f"{at} {key!r} missing or not {kind.__name__}")
            if kind is list and not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
                raise UserError(f"{at} {key!r} holds a non-number")
            if kind is list and not all(math.isfinite(v) for v in value):
                raise UserError(f"{at} {key!r} holds {value}: scores must be finite")
        if problem := _set_problem(section, e):
            raise UserError(f"{where}: {section}.examples[{i}] (id {e.get('id')!r}): {problem}")
        key = (e[group_key], e.get("id"))
        if key in seen:
            raise UserError(f"{where}: {section}.examples[{i}]: id {e.get('id')!r} given twice "
                            f"(first at {section}.examples[{seen[key]}])")
        seen[key] = i


def _set_problem(section: str, e: Mapping) -> str | None:
    """What makes one stored set unscorable by its section's rule (the lengths its rule reads, a known
    subset or domain: a misspelt one would enter the mean as one more), or None."""
    if section == "rewardbench2":
        problem = set_problem(e["subset"], str(e.get("id")), e["num_correct"], len(e["scores"]))
        return None if problem is None else f"field {problem[0]!r}: {problem[1]}"
    if section == "rmbench":
        if e["domain"] not in (*RMBENCH_DOMAINS, "safety"):  # the reader's domains, or safety pooled
            return f"field 'domain': unknown domain {e['domain']!r} (RM-Bench has {', '.join(RMBENCH_DOMAINS)})"
        for key in ("score_chosen", "score_rejected"):
            if len(e[key]) != len(STYLES):
                return f"field {key!r} holds {len(e[key])} scores; RM-Bench has one per style ({', '.join(STYLES)})"
        return None
    if len(e["scores"]) != len(e["ratings"]):
        return f"{len(e['scores'])} scores for {len(e['ratings'])} ratings: one score per rated response"
    if len(e["scores"]) < 2:
        return f"{len(e['scores'])} responses: best-of-N needs at least 2"
    return None


def check_max_length(tokenizer, max_length: int | None, name: str = "--max-length") -> None:
    """Raise UserError when max_length leaves no room beyond the template of an empty conversation;
    `name` is the option or recipe key the value came from."""
    if max_length is None:
        return
    problem = max_length_problem(max_length, template_tokens(tokenizer), name)
    if problem:
        raise UserError(problem)


def template_tokens(tokenizer) -> int:
    """Tokens the chat template takes around an empty prompt and reply (system prompt, role headers, end-of-turn)."""
    empty = [{"role": "user", "content": ""}, {"role": "assistant", "content": ""}]
    return len(encode_conversation(tokenizer, empty).ids)


def max_length_problem(max_length: int, scaffold: int, name: str) -> str | None:
    """Why `max_length` cannot hold a conversation whose template takes `scaffold` tokens, or None."""
    if max_length > scaffold:
        return None
    return (f"{name} {max_length} leaves no response token with its prompt: the chat template alone takes "
            f"{scaffold} tokens around an empty prompt and reply (system prompt, role headers, end-of-turn); "
            f"give more than {scaffold}")
