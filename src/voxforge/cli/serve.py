"""``voxforge serve``, ``users create|list|rotate|revoke`` and ``admin gc``: run and look after the
REST service."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from voxforge.cli.app import command

DataDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--data-dir", help="Database and job files (default $VOXFORGE_DATA_DIR or ./voxforge-data)."
    ),
]
KeepDaysOpt = Annotated[
    float | None,
    typer.Option("--keep-days", help="Delete finished jobs older than this many days.", min=0),
]
DatabaseOpt = Annotated[
    str | None,
    typer.Option("--database-url", help="SQLAlchemy URL (default sqlite:///<data-dir>/voxforge.db)."),
]


@command
def serve(
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port.", min=1, max=65535)] = 8000,
    data_dir: DataDirOpt = None,
    database_url: DatabaseOpt = None,
    workers: Annotated[
        int | None, typer.Option("--workers", help="Worker processes running jobs.", min=1)
    ] = None,
    keep_days: KeepDaysOpt = None,
    runner: Annotated[
        str | None,
        typer.Option("--runner", help="Where jobs run: process (default), thread or ray."),
    ] = None,
    ray_address: Annotated[
        str | None,
        typer.Option(
            "--ray-address",
            help="With --runner ray: auto, HOST:PORT or ray://HOST:PORT "
            "(default: a local Ray with --workers CPUs).",
        ),
    ] = None,
    api_docs: Annotated[
        bool,
        typer.Option("--api-docs", help="Serve /docs and /redoc (they load JavaScript from a CDN)."),
    ] = False,
) -> None:
    """Run the REST API and web page (jobs run in worker processes of this server)."""
    import uvicorn

    from voxforge.service.app import create_app
    from voxforge.service.settings import ServiceSettings

    settings = ServiceSettings.from_env(
        data_dir=data_dir,
        database_url=database_url,
        workers=workers,
        keep_days=keep_days,
        runner=runner,
        ray_address=ray_address,
        api_docs=api_docs or None,
    )
    app = create_app(settings)
    docs = "/docs" if settings.api_docs else "/openapi.json"
    typer.echo(f"voxforge API on http://{host}:{port} (schema {docs}), data in {settings.data_dir}/")
    # Idle keep-alive connections close after 5 s; request bodies time out in the app.
    uvicorn.run(app, host=host, port=port, log_level="info", timeout_keep_alive=5)


users_app = typer.Typer(help="Manage API keys.", no_args_is_help=True)
admin_app = typer.Typer(help="Maintain the service's data.", no_args_is_help=True)


@admin_app.command("gc")
@command
def admin_gc(
    keep_days: KeepDaysOpt = None,
    keep_inputs_days: Annotated[
        float | None,
        typer.Option(
            "--keep-inputs-days", help="Remove inputs of jobs finished longer ago than this.", min=0
        ),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only report.")] = False,
    data_dir: DataDirOpt = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Apply the retention policy once: old finished jobs, old inputs, orphan folders."""
    from voxforge.service.gc import collect
    from voxforge.service.settings import ServiceSettings
    from voxforge.service.storage import Storage

    settings = ServiceSettings.from_env(
        data_dir=data_dir,
        database_url=database_url,
        keep_days=keep_days,
        keep_inputs_days=keep_inputs_days,
    )
    db = _database(data_dir, database_url)
    report = collect(
        db, Storage(settings.data_dir), settings.keep_days, settings.keep_inputs_days,
        dry_run=dry_run,
    )  # fmt: skip
    typer.echo(("would be: " if dry_run else "") + report.line())


def _database(data_dir: Path | None, database_url: str | None):
    from voxforge.service.db import Database
    from voxforge.service.settings import ServiceSettings

    settings = ServiceSettings.from_env(data_dir=data_dir, database_url=database_url)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.db_url)
    db.create_all()
    return db


@users_app.command("create")
@command
def users_create(
    name: Annotated[str, typer.Argument(help="User name (unique).")],
    data_dir: DataDirOpt = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Create a user and print its API key (shown once; only a hash is stored)."""
    from voxforge.service.auth import create_user

    _, key = create_user(_database(data_dir, database_url), name)
    typer.echo(key)


@users_app.command("list")
@command
def users_list(data_dir: DataDirOpt = None, database_url: DatabaseOpt = None) -> None:
    """List users: name, key prefix, created, revoked."""
    from voxforge.service.auth import list_users

    for u in list_users(_database(data_dir, database_url)):
        state = "revoked" if u.revoked else "active"
        typer.echo(f"{u.name:<24} {u.key_prefix}…  {u.created_at[:19]}  {state}")


@users_app.command("rotate")
@command
def users_rotate(
    name: Annotated[str, typer.Argument(help="User name.")],
    data_dir: DataDirOpt = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Give a user a new API key and print it (the old key stops working; revoked users return)."""
    from voxforge.service.auth import rotate_user

    _, key = rotate_user(_database(data_dir, database_url), name)
    typer.echo(key)


@users_app.command("revoke")
@command
def users_revoke(
    name: Annotated[str, typer.Argument(help="User name.")],
    data_dir: DataDirOpt = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Switch a user's API key off."""
    from voxforge.service.auth import revoke_user

    revoke_user(_database(data_dir, database_url), name)
    typer.echo(f"revoked {name}")
