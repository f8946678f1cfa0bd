"""``voxforge classify FILE``: name the object with the shipped classifier."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from voxforge.cli.app import command


@command
def classify(
    input: Annotated[Path, typer.Argument(help="Scan, mesh or voxel grid.")],
    model: Annotated[str, typer.Option("--model", help="Shipped model name or path.")] = (
        "classifier-voxel"
    ),
    top: Annotated[int, typer.Option("--top", help="How many classes to list.")] = 3,
    views: Annotated[int | None, typer.Option("--views", help="Rotation-voting views.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Name the object in a file: the top classes with probabilities (ModelNet10 classes)."""
    import json

    from voxforge.core.errors import ConfigError
    from voxforge.nn.classify.inference import LOW_CONFIDENCE, classify_file

    if not 1 <= top <= 100:
        raise ConfigError(f"--top must be 1..100, got {top}")
    if views is not None and not 1 <= views <= 36:
        raise ConfigError(f"--views must be 1..36, got {views}")
    result = classify_file(input, model, k=top, views=views)
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
        return
    if result.unknown and result.open_set is not None:
        o = result.open_set
        typer.echo(
            f"unknown shape: not one of the model's classes ({o['score'].replace('_', ' ')} "
            f"{o['value']:.2f} {'below' if o['score'] == 'max_probability' else 'above'} the threshold "
            f"{o['threshold']:.2f}); closest classes:"
        )
    for name, p in result.top:
        typer.echo(f"{name:<12} {p:6.1%}")
    if result.low_confidence and not result.unknown:
        typer.echo(
            f"low confidence: top probability {result.top[0][1]:.0%} < {LOW_CONFIDENCE:.0%}; "
            "the object may not be one of the model's classes"
        )
