"""Typed, airtight recipes: YAML -> pydantic models that reject unknown keys by name.

Every stage's settings are a `StrictModel` subclass with one docstring per field (pydantic turns the
attribute docstrings into descriptions, so `--help` and error messages come from the same text).
`key.sub=value` overrides from the command line are applied before validation.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.fields import FieldInfo

from rewardkit.errors import validation_message

M = TypeVar("M", bound=BaseModel)


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, validate_assignment=True,
                              allow_inf_nan=False)  # a NaN or inf setting is refused by name, never trained on


class RecipeError(ValueError):
    pass


def with_default(model: type[BaseModel], name: str, default: Any) -> FieldInfo:
    """`model`'s field `name` with another default and the same type, bounds and docstring, for a
    subclass whose use needs that default (the docstring then says why, next to the field)."""
    info = copy.copy(model.model_fields[name])
    info.default = default
    return info


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``a.b=value`` overrides (value parsed as YAML) to a nested dict, in place."""
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise RecipeError(f"override {item!r} is not KEY=VALUE")
        node = data
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise RecipeError(f"override {item!r}: {part!r} is not a section")
        try:
            node[leaf] = yaml.safe_load(raw)
        except yaml.YAMLError:
            raise RecipeError(f"override {item!r}: the value is not valid YAML") from None
    return data


class _DuplicateKey(Exception):
    def __init__(self, key, first: int, again: int):
        self.key, self.first, self.again = key, first, again


class UniqueKeyLoader(yaml.SafeLoader):
    """yaml's SafeLoader, except that a key given twice in one mapping is an error: plain YAML keeps the
    last value silently (a recipe with `lr:` twice would train with the second)."""

    def construct_mapping(self, node, deep=False):
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *base` then overriding a key is intended
                continue
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            try:
                if key in seen:
                    raise _DuplicateKey(key, seen[key], line)
            except TypeError:  # an unhashable key: SafeLoader reports it below
                continue
            seen[key] = line
        return super().construct_mapping(node, deep)


def read_yaml(path: Path) -> Any:
    """A YAML file's content; duplicate keys and syntax errors raise RecipeError naming file and line."""
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=UniqueKeyLoader)
    except _DuplicateKey as e:
        raise RecipeError(f"{path}:{e.again}: key {e.key!r} given twice (first at line {e.first})") from None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise RecipeError(f"{where}: invalid YAML: {' '.join(str(x) for x in (e.context, e.problem) if x)}") from None
    except yaml.YAMLError as e:
        raise RecipeError(f"{path}: invalid YAML: {e}") from None
    except UnicodeDecodeError as e:
        raise RecipeError(f"{path}: not UTF-8 text (byte {e.start})") from None


def load_recipe(path: str | Path, model: type[M], overrides: list[str] | None = None) -> M:
    path = Path(path)
    data = read_yaml(path) or {}
    if not isinstance(data, dict):
        raise RecipeError(f"{path}: a recipe is a mapping of settings, got {type(data).__name__}")
    apply_overrides(data, overrides or [])
    try:
        return model.model_validate(data)
    except ValidationError as e:
        # one line: "path: invalid recipe: sources.0.stepz: unknown key; lr: Input should be ..."
        raise RecipeError(f"{path}: invalid recipe: {validation_message(e)}") from None


def dump_recipe(recipe: BaseModel) -> str:
    """The fully resolved recipe as YAML, written next to every output."""
    return yaml.safe_dump(recipe.model_dump(mode="json"), sort_keys=False, allow_unicode=True)
