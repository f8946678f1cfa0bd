"""The option schema the CLI and the service share: fields that exist, choices that match the
configs, conversions, and choices checked when a config is built."""

from __future__ import annotations

import typing

import pytest
from pydantic import BaseModel

from voxforge.core.config import build_config
from voxforge.core.errors import ConfigError
from voxforge.pipelines import options as po
from voxforge.pipelines.brickify import BrickifyConfig
from voxforge.pipelines.voxelize import VoxelizeJobConfig


def _field(model: type[BaseModel], path: str) -> typing.Any:
    """The annotation of a dotted config field (fails when the field does not exist)."""
    annotation: typing.Any = model
    for part in path.split("."):
        assert isinstance(annotation, type) and issubclass(annotation, BaseModel), path
        assert part in annotation.model_fields, f"{path}: no field {part!r} in {annotation.__name__}"
        annotation = annotation.model_fields[part].annotation
    return annotation


def _literals(annotation: typing.Any) -> set[str]:
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) is typing.Literal:
        return set(args)
    return set().union(*(_literals(a) for a in args)) if args else set()


@pytest.mark.parametrize(
    ("config", "options"),
    [(BrickifyConfig, po.BRICKIFY_OPTIONS), (VoxelizeJobConfig, po.VOXELIZE_OPTIONS)],
)
def test_every_option_lands_on_a_config_field_with_the_same_choices(config, options):
    for option in options:
        for path in option.paths:
            annotation = _field(config, path)
            if isinstance(option.choices, tuple):
                assert set(option.choices) == _literals(annotation), option.name
    assert len({o.name for o in options}) == len(options)


def test_strategy_choices_are_the_registered_strategies():
    from voxforge.bricks.layout.strategies import LAYOUT_STRATEGIES

    assert list(po.STRATEGY.allowed()) == LAYOUT_STRATEGIES.names()
    assert {"greedy", "optimal", "highs"} <= set(po.STRATEGY.allowed())


def test_overrides_nest_convert_and_check_the_given_values():
    flags = po.config_overrides(
        po.BRICKIFY_OPTIONS,
        {"width_studs": 12, "seed": 7, "hollow": 0, "pick_point": "1, 2,3", "strategy": None},
    )
    assert flags == {
        "voxel": {"width_studs": 12, "seed": 7, "hollow": None},
        "clean": {"seed": 7, "pick_point": [1.0, 2.0, 3.0]},
        "colors": {"seed": 7},
        "layout": {"seed": 7},
    }
    with pytest.raises(ConfigError, match=r"^--strategy must be .*'greedy'.*got 'gredy'$"):
        po.config_overrides(po.BRICKIFY_OPTIONS, {"strategy": "gredy"})
    with pytest.raises(ConfigError, match=r"^--scale must be 'real' or 'fit', got 'huge'$"):
        po.config_overrides(po.VOXELIZE_OPTIONS, {"scale": "huge"})
    with pytest.raises(ConfigError, match="--pick-box needs 6 comma-separated numbers, got 2"):
        po.config_overrides(po.VOXELIZE_OPTIONS, {"pick_box": "1,2"})


@pytest.mark.parametrize(
    ("given", "cells"), [(True, po.DEFAULT_SHELL), (False, None), (0, None), (3, 3), (None, None)]
)
def test_hollow_is_a_shell_thickness_zero_or_false_solid(given, cells):
    assert po.hollow_cells(given) == cells


def test_an_unknown_strategy_fails_when_the_config_is_built():
    with pytest.raises(ConfigError) as err:
        build_config(BrickifyConfig, {"layout": {"strategy": "simulated-annealing"}})
    assert "layout.strategy" in str(err.value) and "'simulated-annealing'" in str(err.value)
    assert "greedy" in str(err.value)
    assert build_config(BrickifyConfig, {"layout": {"strategy": "Optimal"}}).layout.strategy


def test_the_service_shortcuts_are_the_options_marked_so():
    assert set(po.shortcuts(po.BRICKIFY_OPTIONS)) == {"width_studs", "colors", "hollow"}
