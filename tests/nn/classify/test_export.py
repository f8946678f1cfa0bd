"""voxforge.nn.classify.export: ensembles shipped with validation, latency and a card."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from voxforge.nn.classify.export import ship_ensemble
from voxforge.nn.classify.inference import load_classifier

from .conftest import SPLIT, split_model


def test_ensemble_ships_with_validation_latency_and_a_card(tmp_path: Path, distinct_npz: Path) -> None:
    a, b = split_model(tmp_path / "a", seed=0), split_model(tmp_path / "b", seed=1)
    for stem in (a, b):  # members carry a training record, as shipped models do
        info = json.loads(stem.with_suffix(".json").read_text())
        info["training"].update(command="voxforge train classifier", trained_on="a test", seed=0,
                                config={"name": stem.name}, epochs_run=1)  # fmt: skip
        stem.with_suffix(".json").write_text(json.dumps(info))
    out = ship_ensemble([a.with_suffix(".json"), b.with_suffix(".json")], tmp_path / "ens",
                        data_path=distinct_npz)  # fmt: skip
    assert out["validation"]["samples"] == SPLIT["val"]
    assert {"views_1", "views_4", "views_12", "per_class"} <= set(out["validation"])
    assert out["latency"]["views_4_ms_per_shape"] > 0
    card = (tmp_path / "ens.md").read_text()
    assert "An ensemble of 2 networks" in card and "Member a" in card and "Member b" in card
    ens = load_classifier(tmp_path / "ens.json")
    x = np.load(distinct_npz)["voxels"][:4]
    members = [load_classifier(s.with_suffix(".json")) for s in (a, b)]
    temps = [m["temperature"] for m in out["members"]]
    mean = np.mean([np.log(np.exp(m.predict_logits(x) / t) / np.exp(m.predict_logits(x) / t).sum(1,
                    keepdims=True)) for m, t in zip(members, temps, strict=True)], axis=0)  # fmt: skip
    assert np.array_equal(ens.predict_logits(x).argmax(1), mean.argmax(1))
