import pytest
from pydantic import BaseModel, ConfigDict, Field

from voxforge.core.config import build_config, dump_config, load_config
from voxforge.core.errors import ConfigError
from voxforge.core.progress import Progress
from voxforge.core.registry import Registry


def test_registry_unknown_name_lists_close_matches():
    reg: Registry[int] = Registry("layout strategy")
    reg.register("greedy", 1)
    reg.register("optimal", 2)
    assert reg["GREEDY"] == 1
    with pytest.raises(ConfigError, match="did you mean greedy"):
        reg["gredy"]
    with pytest.raises(ValueError):
        reg.register("greedy", 3)
    assert reg.names() == ["greedy", "optimal"]


class Inner(BaseModel):
    model_config = ConfigDict(extra="forbid")
    size: int = Field(8, gt=0)


class Outer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    inner: Inner = Field(default_factory=Inner)
    name: str = "x"


def test_load_config_yaml_with_overrides(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("inner:\n  size: 4\nname: y\n")
    cfg = load_config(Outer, p, {"inner": {"size": 16}})
    assert cfg.inner.size == 16 and cfg.name == "y"
    assert "size: 16" in dump_config(cfg)


def test_config_errors_name_the_field(tmp_path):
    with pytest.raises(ConfigError, match=r"inner\.size"):
        build_config(Outer, {"inner": {"size": -1}})
    p = tmp_path / "c.yaml"
    p.write_text("colour: red\n")
    with pytest.raises(ConfigError, match="colour"):
        load_config(Outer, p)
    p.write_text("- a list\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_config(Outer, p)
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(Outer, tmp_path / "missing.yaml")


def test_progress_maps_stages_to_overall_fraction():
    seen = []
    prog = Progress(lambda s, f: seen.append((s, round(f, 3))), {"a": 1, "b": 3})
    prog("a", 1.0)
    prog.sub("b")("ignored", 0.5)
    prog("b", 2.0)
    assert seen == [("a", 0.25), ("b", 0.625), ("b", 1.0)]


def test_progress_never_goes_backwards():
    # weights whose stage boundaries are not exact in binary floating point
    weights = {"a": 1, "b": 2, "c": 3, "d": 6, "e": 3, "f": 9}
    seen = []
    prog = Progress(lambda s, f: seen.append(f), weights)
    for stage in weights:
        prog(stage, 0.0)
        prog(stage, 1.0)
    assert seen == sorted(seen) and seen[-1] == pytest.approx(1.0)
    prog("a", 0.5)  # a late report of an earlier stage does not pull the bar back
    assert seen[-1] == seen[-2]
