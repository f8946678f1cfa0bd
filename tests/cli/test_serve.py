"""The CLI commands, registered on a local Typer app as voxforge.cli will register them."""

import pytest
import typer
from typer.testing import CliRunner

from voxforge.cli.serve import serve, users_app


@pytest.fixture
def cli():
    app = typer.Typer()
    app.command("serve")(serve)
    app.add_typer(users_app, name="users")
    return app


def test_users_create_list_revoke(cli, tmp_path):
    runner = CliRunner()
    d = ["--data-dir", str(tmp_path)]
    r = runner.invoke(cli, ["users", "create", "alice", *d])
    assert r.exit_code == 0, r.output
    key = r.output.strip()
    assert key.startswith("vf_") and len(key) == 46
    assert key.encode() not in (tmp_path / "voxforge.db").read_bytes()
    r = runner.invoke(cli, ["users", "create", "alice", *d])
    assert r.exit_code == 5
    assert "voxforge: error: user 'alice' exists" in r.output
    listed = runner.invoke(cli, ["users", "list", *d]).output
    assert listed.startswith("alice") and key[:10] in listed and listed.rstrip().endswith("active")
    assert runner.invoke(cli, ["users", "revoke", "alice", *d]).output == "revoked alice\n"
    assert runner.invoke(cli, ["users", "list", *d]).output.rstrip().endswith("revoked")
    r = runner.invoke(cli, ["users", "revoke", "bob", *d])
    assert r.exit_code == 5 and "no user named 'bob'" in r.output


def test_serve_builds_the_app_from_flags(cli, tmp_path, monkeypatch):
    import uvicorn

    seen = {}

    def fake_run(app, host, port, log_level, **_):
        seen.update(app=app, host=host, port=port)

    monkeypatch.setattr(uvicorn, "run", fake_run)
    r = CliRunner().invoke(
        cli, ["serve", "--data-dir", str(tmp_path / "d"), "--port", "8123", "--workers", "1"]
    )
    assert r.exit_code == 0, r.output
    assert "voxforge API on http://127.0.0.1:8123" in r.output
    settings = seen["app"].state.voxforge.settings
    assert (seen["host"], seen["port"]) == ("127.0.0.1", 8123)
    assert settings.data_dir == tmp_path / "d" and settings.workers == 1
    assert (tmp_path / "d" / "voxforge.db").is_file()
