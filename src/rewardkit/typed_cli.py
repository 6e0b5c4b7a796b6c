"""The typed config is the CLI (litgpt's shape): a subcommand's options are generated from its
StrictModel's fields, so each flag's name, type, default, bounds and help text come from one field.

    @config_command(app, "score", ScoreConfig)
    def score(cfg: ScoreConfig) -> None: ...      # --model, --data, --out, --max-length, ... from the fields

A field `max_length` becomes `--max-length`; a bool field a bare flag (`--resume`; `--x/--no-x` when it
defaults to true); a list field a repeatable option; a Literal a string whose choices the help shows.
Click only parses; the model validates every value (choices, bounds, cross-field rules), so a bad value
fails one way: pydantic's error, which rewardkit.errors reports naming the flag ("--n: Input should be
greater than or equal to 1 (got 0)"). Fields a command line cannot spell (nested models, dicts) are left
out, and the model's defaults apply to them.
Recipe commands (`run`, `train`, `curate`) take a YAML file and `key=value` overrides instead; the flags
they offer are fields of the recipe, passed on as overrides.
"""

from __future__ import annotations

import inspect
import json
import types
import typing
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Annotated, Any, Literal, Optional, TypeVar, Union

import typer
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from rewardkit.recipe import load_recipe

M = TypeVar("M", bound=BaseModel)
_SCALARS = (str, int, float, bool, Path)


def cli_type(annotation: Any) -> Any:
    """The type typer parses for a field (a Literal's values as str), or None when a command line cannot
    spell it."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Literal and all(isinstance(a, str) for a in args):
        return str
    if annotation in _SCALARS:
        return annotation
    if origin in (Union, types.UnionType) and type(None) in args and len(args) == 2:
        inner = cli_type(next(a for a in args if a is not type(None)))
        return None if inner is None or typing.get_origin(inner) is list else Optional[inner]
    if origin is list and len(args) == 1 and args[0] in _SCALARS:
        return annotation
    return None


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _choices(annotation: Any) -> str | None:
    """"a|b|c" for a (possibly optional) Literal field: the metavar that shows its choices."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) is Literal:
        return "|".join(map(str, args))
    return next((c for a in args if (c := _choices(a))), None)


def parameter(name: str, info: FieldInfo, *, metavar: str | None = None, required: bool = False) -> inspect.Parameter:
    """The typer parameter of one field: Annotated[type, typer.Option(--flag, help=docstring)] = default;
    with a metavar, a positional typer.Argument instead."""
    kind = cli_type(info.annotation)
    is_list = typing.get_origin(kind) is list
    default = info.get_default(call_default_factory=True)
    show = False if default is None or default == [] else (", ".join(map(str, default)) if is_list else True)
    kw = {"help": info.description, "show_default": show}
    # A bool defaulting to true needs a way to say false (--x/--no-x); otherwise a bare flag (--resume).
    decl = f"{flag(name)}/--no-{flag(name)[2:]}" if kind is bool and default is True else flag(name)
    meta = typer.Argument(metavar=metavar, **kw) if metavar else typer.Option(decl, metavar=_choices(info.annotation), **kw)
    if required or info.is_required():
        value = inspect.Parameter.empty
    else:  # a list's default is the model's (typer would give a tuple); None means "not given"
        value = None if is_list else default
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=Annotated[kind, meta], default=value)


def field_order(model: type[BaseModel]) -> list[str]:
    """The model's fields, a subclass's own first: a command's own options head its --help."""
    names: list[str] = []
    for cls in model.__mro__:
        names += [n for n in cls.__dict__.get("__annotations__", {}) if n in model.model_fields and n not in names]
    return names


def fields_to_parameters(model: type[BaseModel], arguments: dict[str, str] | None = None,
                         required: Iterable[str] = (), only: Iterable[str] | None = None) -> list[inspect.Parameter]:
    """Parameters for every field a command line can spell (`only`: just these); `arguments` maps the
    positional ones to their metavar, and they come first (click reads them in declaration order)."""
    arguments, required = arguments or {}, set(required)
    names = [n for n in field_order(model)
             if cli_type(model.model_fields[n].annotation) is not None and (only is None or n in only)]
    names.sort(key=lambda n: n not in arguments)
    return [parameter(n, model.model_fields[n], metavar=arguments.get(n), required=n in required) for n in names]


def build(model: type[M], values: dict[str, Any]) -> M:
    """The validated config from parsed values (None: not given, the model's default applies). A
    ValidationError propagates: rewardkit.errors reports it naming the flags ("--fields: Input ...")."""
    return model.model_validate({k: v for k, v in values.items() if v is not None})


def _register(app: typer.Typer, name: str, fn: Callable, params: list[inspect.Parameter],
              call: Callable[[dict[str, Any]], None]) -> None:
    def command(**values: Any) -> None:
        call(values)

    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__doc__, command.__name__ = fn.__doc__, fn.__name__
    app.command(name)(command)


def config_command(app: typer.Typer, name: str, model: type[M], *, arguments: dict[str, str] | None = None,
                   required: Iterable[str] = ()) -> Callable[[Callable[[M], Any]], Callable[[M], Any]]:
    """Register `fn(cfg)` as subcommand `name`, its options the fields of `model` (`arguments`: these
    fields are positional, shown as the given metavar; `required`: required on the command line though
    the model has a default)."""
    def register(fn: Callable[[M], Any]) -> Callable[[M], Any]:
        _register(app, name, fn, fields_to_parameters(model, arguments, required), lambda v: fn(build(model, v)))
        return fn

    return register


RECIPE_HELP = "The recipe (YAML): one typed setting per key; an unknown key is an error that names it."
OVERRIDES_HELP = "key.sub=value overrides, applied before validation (the value is read as YAML)."


def recipe_command(app: typer.Typer, name: str, model: type[M], *, flags: Iterable[str] = ()
                   ) -> Callable[[Callable[[M], Any]], Callable[[M], Any]]:
    """Register `fn(cfg)` as subcommand `name RECIPE [key=value ...]`; `flags` are fields of `model`
    also offered as options (e.g. `--resume`), passed on as overrides when given."""
    recipe = inspect.Parameter("recipe", inspect.Parameter.KEYWORD_ONLY, annotation=Annotated[
        Path, typer.Argument(help=RECIPE_HELP, exists=True, dir_okay=False)])
    overrides = inspect.Parameter("overrides", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Annotated[
        Optional[list[str]], typer.Argument(help=OVERRIDES_HELP)])
    options = fields_to_parameters(model, only=tuple(flags))

    def call(values: dict[str, Any]) -> Any:
        # A flag left at its field's default is not passed on: the recipe file's value stands.
        extra = [f"{k}={json.dumps(v, default=str)}" for k, v in values.items()
                 if k not in ("recipe", "overrides") and v not in (None, False) and v != model.model_fields[k].default]
        return load_recipe(values["recipe"], model, (values["overrides"] or []) + extra)

    def register(fn: Callable[[M], Any]) -> Callable[[M], Any]:
        _register(app, name, fn, [recipe, overrides, *options], lambda v: fn(call(v)))
        return fn

    return register
