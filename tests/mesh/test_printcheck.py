"""mesh check --print: wall thickness, overhangs, self-intersections and the verdict."""

from __future__ import annotations

import pytest
import trimesh

from voxforge.core.mesh import Mesh
from voxforge.mesh.printcheck import PrintConfig, print_report


def test_solid_cube_is_printable() -> None:
    r = print_report(Mesh(trimesh.creation.box(extents=(0.02, 0.02, 0.02))))
    assert r.verdict == "printable" and r.volume_cm3 == pytest.approx(8.0)
    assert r.min_wall_mm == pytest.approx(20.0, rel=0.01) and r.overhang_area_mm2 == 0.0


def test_thin_plate_is_not_printable() -> None:
    r = print_report(Mesh(trimesh.creation.box(extents=(0.05, 0.05, 0.0002))))
    assert not r.printable and r.min_wall_mm == pytest.approx(0.2, rel=0.01)
    assert r.thin_wall_fraction > 0.9
    # ... but is printable by a finer nozzle.
    assert print_report(
        Mesh(trimesh.creation.box(extents=(0.05, 0.05, 0.0002))), PrintConfig(nozzle_mm=0.1)
    ).printable


def test_t_shape_needs_supports_under_its_arms() -> None:
    post = trimesh.creation.box(extents=(0.01, 0.01, 0.02))
    bar = trimesh.creation.box(extents=(0.04, 0.01, 0.005)).apply_translation([0, 0, 0.0125])
    t = trimesh.boolean.union([post, bar], engine="manifold")
    r = print_report(Mesh(t))
    assert r.verdict == "printable with supports"
    assert r.overhang_area_mm2 == pytest.approx(2 * 15 * 10, rel=1e-6)


def test_self_intersections_are_counted() -> None:
    a = trimesh.creation.box(extents=(0.02, 0.02, 0.02))
    b = a.copy().apply_translation([0.005, 0.005, 0.005])
    r = print_report(Mesh(trimesh.util.concatenate([a, b])))
    assert r.self_intersecting_faces and r.self_intersecting_faces > 0 and r.warnings
