"""The typer <-> pydantic bridge: a command's flags are its model's fields (type, default, bounds, help)."""

from __future__ import annotations

from typing import Literal

import pytest
import typer
from pydantic import Field, ValidationError
from typer.main import get_command
from typer.testing import CliRunner

from rewardkit.errors import user_message
from rewardkit.recipe import StrictModel, with_default
from rewardkit.typed_cli import config_command, recipe_command


class Toy(StrictModel):
    name: str
    """Who to greet."""
    times: int = Field(2, ge=1, le=5)
    """How often."""
    style: Literal["plain", "loud"] = "plain"
    """How."""
    tags: list[str] = ["a"]
    """Repeatable."""
    limit: int | None = None
    """Optional."""
    dry: bool = False
    """A bare flag."""
    color: bool = True
    """On unless --no-color."""
    nested: dict[str, int] = {}
    """Not spellable on a command line: left out, its default applies."""


def toy_app():
    app, seen = typer.Typer(), []

    @config_command(app, "greet", Toy, arguments={"name": "NAME"})
    def greet(cfg: Toy) -> None:
        """Greet someone."""
        seen.append(cfg)

    @app.command("other")
    def other() -> None:  # a second command, so typer keeps subcommand names
        pass

    return app, seen


def test_flags_parse_into_the_model_and_defaults_come_from_it():
    app, seen = toy_app()
    res = CliRunner().invoke(app, ["greet", "ann", "--times", "3", "--style", "loud", "--tags", "x", "--tags", "y",
                                   "--dry"])
    assert res.exit_code == 0, res.output
    assert seen[-1] == Toy(name="ann", times=3, style="loud", tags=["x", "y"], dry=True)
    assert CliRunner().invoke(app, ["greet", "ann", "--no-color"]).exit_code == 0 and seen[-1].color is False
    assert CliRunner().invoke(app, ["greet", "bob"]).exit_code == 0
    assert seen[-1] == Toy(name="bob") and seen[-1].tags == ["a"] and seen[-1].limit is None


def test_the_model_validates_every_value_and_its_error_names_the_flag():
    """Click only parses; choices and bounds are the model's, so there is one kind of error for them."""
    app, seen = toy_app()
    for args, expected in ((["--times", "6"], "--times: Input should be less than or equal to 5 (got 6)"),
                           (["--times", "0"], "--times: Input should be greater than or equal to 1 (got 0)"),
                           (["--style", "soft"], "--style: Input should be 'plain' or 'loud' (got 'soft')")):
        res = CliRunner().invoke(app, ["greet", "ann", *args])
        assert isinstance(res.exception, ValidationError), (args, res.output)
        assert user_message(res.exception) == expected
    res = CliRunner().invoke(app, ["greet", "ann", "--nested", "1"])  # not an option at all: click's usage error
    assert res.exit_code == 2 and "No such option" in res.output and not seen


def test_help_is_the_field_docstring():
    app, _ = toy_app()
    params = {p.name: p for p in get_command(app).commands["greet"].params}
    assert set(params) == {"name", "times", "style", "tags", "limit", "dry", "color"}
    assert all(params[n].help == Toy.model_fields[n].description for n in params)
    assert params["times"].default == 2 and params["dry"].opts == ["--dry"] and params["dry"].secondary_opts == []


def test_every_rewardkit_option_is_its_models_field():
    """Each flag of the real CLI carries exactly its model field's docstring: no help text written apart."""
    from rewardkit import commands, typed_cli
    from rewardkit.cli import app
    from rewardkit.curation.config import CurateConfig
    from rewardkit.evaluation.run import ScoreConfig
    from rewardkit.pipeline import PipelineRecipe
    from rewardkit.serving.config import ServeConfig
    from rewardkit.training.plan import DryRunOptions

    models = {"run": PipelineRecipe, "train": commands.TrainCommand, "curate": CurateConfig, "score": ScoreConfig,
              "decontaminate": commands.DecontaminateCommand, "evaluate": commands.EvaluateCommand,
              "serve": ServeConfig, "stats": commands.StatsCommand, "convert": commands.ConvertCommand,
              "fixtures": commands.FixturesCommand, "features": commands.FeaturesCommand,
              "probe": commands.ProbeCommand, "report": commands.ReportCommand}
    root = get_command(app)
    found = {**{n: c for n, c in root.commands.items() if n != "data"}, **root.commands["data"].commands}
    assert set(found) == set(models)
    recipe_args = {"recipe": typed_cli.RECIPE_HELP, "overrides": typed_cli.OVERRIDES_HELP}
    for name, command in found.items():
        for param in command.params:
            expected = recipe_args.get(param.name) or models[name].model_fields[param.name].description
            assert param.help == expected, (name, param.name)
    assert [p.name for p in found["train"].params] == ["recipe", "overrides", "resume", *DryRunOptions.model_fields]


def recipe_app(recipe: type, flags: list[str]) -> tuple[typer.Typer, list]:
    """A two-command app whose `train` is a recipe command; `seen` collects the configs it was called with
    (a second command keeps typer from collapsing the app into its only command)."""
    app, seen = typer.Typer(), []

    @recipe_command(app, "train", recipe, flags=flags)
    def train(cfg) -> None:
        """Train."""
        seen.append(cfg)

    @app.command("other")
    def other() -> None:
        pass

    return app, seen


def test_recipe_flags_become_overrides(tmp_path):
    class Recipe(StrictModel):
        lr: float = 0.1
        """Learning rate."""
        resume: bool = False
        """Continue."""

    app, seen = recipe_app(Recipe, ["resume"])
    recipe = tmp_path / "r.yaml"
    recipe.write_text("lr: 0.5\n")
    assert CliRunner().invoke(app, ["train", str(recipe), "lr=0.25", "--resume"]).exit_code == 0
    assert seen[-1] == Recipe(lr=0.25, resume=True)
    assert CliRunner().invoke(app, ["train", str(recipe)]).exit_code == 0
    assert seen[-1] == Recipe(lr=0.5, resume=False)


def test_a_recipe_flag_left_at_its_default_keeps_the_recipe_files_value(tmp_path):
    """A flag with a non-None default (e.g. train's --mfu) is passed on only when given otherwise: the
    recipe file's value is not overwritten by the flag's default."""
    class Recipe(StrictModel):
        lr: float = 0.1
        """Learning rate."""

    app, seen = recipe_app(Recipe, ["lr"])
    recipe = tmp_path / "r.yaml"
    recipe.write_text("lr: 0.5\n")
    assert CliRunner().invoke(app, ["train", str(recipe)]).exit_code == 0 and seen[-1].lr == 0.5
    assert CliRunner().invoke(app, ["train", str(recipe), "--lr", "0.25"]).exit_code == 0 and seen[-1].lr == 0.25


def test_with_default_keeps_type_bounds_and_docstring():
    class Other(Toy):
        times: int = with_default(Toy, "times", 4)

    info = Other.model_fields["times"]
    assert (info.default, info.description) == (4, "How often.")
    with pytest.raises(ValueError, match="less than or equal to 5"):
        Other(name="x", times=9)


def test_values_not_given_leave_the_models_defaults():
    from rewardkit.typed_cli import build

    assert build(Toy, {"name": "x", "times": None, "tags": None}) == Toy(name="x")
