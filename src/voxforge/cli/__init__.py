"""The ``voxforge`` command line: the root app (:mod:`voxforge.cli.app`) with every command.

Each module holds one command or one command group; this table registers them in the order
``voxforge --help`` lists them. A command is a function decorated with
:func:`~voxforge.cli.app.command` (one-line errors and exit codes) whose options come from
:mod:`voxforge.cli.options`; nothing outside ``cli/`` imports this package.
"""

from __future__ import annotations

from voxforge.cli import (
    batch,
    brickify,
    classify,
    complete,
    generate,
    info,
    instructions,
    order,
    reconstruct,
    scene,
    serve,
    voxelize,
)
from voxforge.cli.app import EXIT_CODES, EXIT_EPILOG, app
from voxforge.cli.data import data_app
from voxforge.cli.evaluate import evaluate_app
from voxforge.cli.mesh import mesh_app
from voxforge.cli.mesh_export import register as register_mesh_export
from voxforge.cli.train import train_app

__all__ = ["EXIT_CODES", "app", "main"]

app.command("version")(info.version)
app.command("formats")(info.formats)
app.command("info")(info.info)
app.command("voxelize", epilog=EXIT_EPILOG)(voxelize.voxelize)
app.command("brickify", epilog=EXIT_EPILOG)(brickify.brickify)
app.command("complete")(complete.complete_cmd)
app.add_typer(train_app, name="train")
app.add_typer(evaluate_app, name="evaluate")
app.add_typer(data_app, name="data")
app.add_typer(mesh_app, name="mesh")
register_mesh_export(mesh_app)
app.command("classify")(classify.classify)
app.command("order")(order.order)
app.command("instructions")(instructions.instructions)
app.command("reconstruct", epilog=EXIT_EPILOG)(reconstruct.reconstruct)
app.command("generate", epilog=EXIT_EPILOG)(generate.generate_cmd)
evaluate_app.command("generation")(generate.evaluate_generation_cmd)
train_app.command("generator")(generate.train_generator_cmd)
app.command("scene")(scene.scene)
app.command("batch", epilog=EXIT_EPILOG)(batch.batch)
app.command("serve")(serve.serve)
app.add_typer(serve.users_app, name="users")
app.add_typer(serve.admin_app, name="admin")


def main() -> None:  # pragma: no cover - console entry
    """Run the command line (``python -m voxforge``)."""
    app()
