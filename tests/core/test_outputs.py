import json

import pytest

from voxforge.core.errors import ConfigError
from voxforge.core.outputs import MANIFEST_NAME, OutputDir, atomic_write_bytes


def test_output_dir_appears_only_on_success_with_manifest(tmp_path):
    out = tmp_path / "result"
    with OutputDir(out, extra={"job": "test"}) as od:
        od.path("a.json").write_text("{}")
        od.add("a.json", "first")
        assert not out.exists()
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    assert manifest["job"] == "test"
    assert [o["name"] for o in manifest["outputs"]] == ["a.json"]
    assert manifest["outputs"][0]["size"] == 2
    assert manifest["outputs"][0]["media_type"] == "application/json"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result"]


def test_output_dir_leaves_nothing_on_failure(tmp_path):
    out = tmp_path / "result"
    with pytest.raises(RuntimeError), OutputDir(out) as od:
        od.path("a.txt").write_text("half")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_failure_keeps_previous_result(tmp_path):
    out = tmp_path / "result"
    with OutputDir(out) as od:
        od.path("a.txt").write_text("old")
        od.add("a.txt")
    with pytest.raises(ValueError), OutputDir(out) as od:
        od.path("a.txt").write_text("new")
        raise ValueError
    assert (out / "a.txt").read_text() == "old"
    with OutputDir(out) as od:
        od.path("b.txt").write_text("new")
        od.add("b.txt")
    assert sorted(p.name for p in out.iterdir()) == ["b.txt", MANIFEST_NAME]


def test_refuses_to_replace_a_foreign_folder(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("precious")
    with pytest.raises(ConfigError, match="not a voxforge output"), OutputDir(tmp_path / "mine"):
        pass
    assert (tmp_path / "mine" / "thesis.tex").read_text() == "precious"


def test_add_requires_written_file(tmp_path):
    with pytest.raises(FileNotFoundError), OutputDir(tmp_path / "o") as od:
        od.add("missing.png")
    assert not (tmp_path / "o").exists()


def test_atomic_write_bytes(tmp_path):
    target = tmp_path / "sub" / "f.bin"
    atomic_write_bytes(target, b"abc")
    assert target.read_bytes() == b"abc"
    assert [p.name for p in target.parent.iterdir()] == ["f.bin"]


def test_outputs_get_ordinary_permissions(tmp_path):
    import os
    import stat

    mask = os.umask(0o022)
    try:
        atomic_write_bytes(tmp_path / "f.bin", b"x")
        with OutputDir(tmp_path / "o") as od:
            od.path("a.txt").write_text("a")
            od.add("a.txt")
    finally:
        os.umask(mask)
    assert stat.S_IMODE((tmp_path / "f.bin").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "o").stat().st_mode) == 0o755
