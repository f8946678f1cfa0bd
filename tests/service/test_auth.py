import pytest

from voxforge.core.errors import ConfigError
from voxforge.service.auth import (
    RateLimiter,
    authenticate,
    create_user,
    hash_key,
    list_users,
    retry_after,
    revoke_user,
    rotate_user,
)
from voxforge.service.db import Database, User


@pytest.fixture
def db(tmp_path):
    d = Database(f"sqlite:///{tmp_path / 'a.db'}")
    d.create_all()
    yield d
    d.dispose()


def test_only_the_hash_of_a_key_is_stored(db, tmp_path):
    info, key = create_user(db, "alice")
    assert key.startswith("vf_") and len(key) == 46
    with db.session() as s:
        row = s.get(User, info.id)
        assert row.key_hash == hash_key(key) and len(row.key_hash) == 64
        assert row.key_prefix == key[:10]
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("a.db*"))
    assert key.encode() not in raw and key[10:].encode() not in raw
    assert authenticate(db, key) == info
    assert authenticate(db, key + "x") is None


def test_names_are_unique_and_revoked_keys_stop_working(db):
    _, key = create_user(db, "alice")
    with pytest.raises(ConfigError, match="user 'alice' exists"):
        create_user(db, "alice")
    with pytest.raises(ConfigError, match="1 to 100 characters"):
        create_user(db, "  ")
    assert revoke_user(db, "alice").revoked
    assert authenticate(db, key) is None
    assert [(u.name, u.revoked) for u in list_users(db)] == [("alice", True)]
    with pytest.raises(ConfigError, match="no user named 'bob'"):
        revoke_user(db, "bob")


def test_rotate_gives_a_new_key_and_brings_back_revoked_users(db):
    _, old = create_user(db, "alice")
    info, new = rotate_user(db, "alice")
    assert new != old and authenticate(db, old) is None and authenticate(db, new) == info
    revoke_user(db, "alice")
    assert authenticate(db, new) is None
    _, again = create_user(db, "alice")  # a revoked user can be created again: new key
    assert authenticate(db, again) is not None and authenticate(db, new) is None
    assert [(u.name, u.revoked) for u in list_users(db)] == [("alice", False)]
    with pytest.raises(ConfigError, match="users rotate alice"):
        create_user(db, "alice")
    with pytest.raises(ConfigError, match="no user named 'bob'"):
        rotate_user(db, "bob")


def test_users_rotate_command(tmp_path):
    from typer.testing import CliRunner

    from voxforge.cli import app

    runner = CliRunner()
    data = ["--data-dir", str(tmp_path / "d")]
    first = runner.invoke(app, ["users", "create", "carol", *data])
    assert first.exit_code == 0
    rotated = runner.invoke(app, ["users", "rotate", "carol", *data])
    assert rotated.exit_code == 0 and rotated.output.strip() != first.output.strip()
    assert runner.invoke(app, ["users", "rotate", "nobody", *data]).exit_code != 0


def test_rate_limiter_buckets_refill_per_key():
    now = [0.0]
    limiter = RateLimiter(3, clock=lambda: now[0])  # 3 a minute: a token every 20 s
    assert [limiter.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("a") == pytest.approx(20.0)
    assert limiter.take("b") == 0.0  # other keys have their own bucket
    now[0] = 10.0
    assert limiter.take("a") == pytest.approx(10.0)
    now[0] = 20.0
    assert limiter.take("a") == 0.0
    assert limiter.take("a") == pytest.approx(20.0)
    assert retry_after(0.2) == "1" and retry_after(19.01) == "20"
