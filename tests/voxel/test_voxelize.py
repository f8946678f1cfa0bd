"""The voxelize entry point: meta, fill choice, progress, input kinds."""

from __future__ import annotations

import numpy as np
import pytest

from voxforge.core.errors import GeometryError
from voxforge.core.pointcloud import PointCloud
from voxforge.voxel import VoxelizeConfig, voxelize


def test_meta_records_how_the_grid_was_made(make_box) -> None:
    grid = voxelize(make_box((4, 2, 6)), VoxelizeConfig(width_studs=8))
    m = grid.meta
    assert m["lattice"] == "lego" and m["scale_mode"] == "fit" and m["width_studs"] == 8
    assert m["scale"] == pytest.approx(2.0 / (1 - 1e-4), rel=1e-5)
    assert m["source_kind"] == "mesh" and m["fill"] == "solid" and m["watertight"] is True
    assert m["size"] == {
        "cells": [8, 4, 12],
        "filled": 384,
        "size_cm": [6.4, 3.2, 3.84],
        "studs": [8, 4],
        "plates": 12,
        "bricks_high": 4.0,
    }
    assert np.allclose(grid.origin, [0, 0, 0], atol=1e-6)


def test_progress_reports_rise_to_one(make_box) -> None:
    seen: list[tuple[str, float]] = []
    voxelize(
        make_box((3, 3, 3)),
        VoxelizeConfig(scale="real", hollow=1),
        progress=lambda s, f: seen.append((s, f)),
    )
    fractions = [f for _, f in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert {s for s, _ in seen} == {"surface", "fill", "hollow"}


def test_point_cloud_without_colours_and_surface_fill(rng) -> None:
    xyz = rng.uniform(0, 0.04, size=(5000, 3))
    grid = voxelize(PointCloud(xyz=xyz), VoxelizeConfig(scale="real", fill="surface"))
    assert grid.colors is None and grid.meta["fill"] == "surface"
    assert grid.shape == (5, 5, 13) and grid.count == 5 * 5 * 13


def test_other_objects_are_refused() -> None:
    with pytest.raises(GeometryError, match="cannot voxelize a ndarray"):
        voxelize(np.zeros((3, 3)))  # type: ignore[arg-type]
