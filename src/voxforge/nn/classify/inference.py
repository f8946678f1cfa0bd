"""Shipped classifiers: save/load (safetensors + JSON), input preparation, prediction with voting.

A shipped model is ``<stem>.safetensors`` (weights) + ``<stem>.json`` (architecture name and
arguments, input contract, labels, metrics) + ``<stem>.md`` (model card). Names resolve in
``$VOXFORGE_MODELS`` first, then in the repository's ``models/`` folder.

Input contract of the voxel models: (N, 1, 32, 32, 32) float32 occupancy in {0, 1}, axes (x, y, z)
with z up, the object's longest side spanning 24 cells, centred (the binvox 24³ + padding
convention of the ModelNet voxel sets). Point models take (N, P, 3) float32 in the unit ball.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from voxforge.core.errors import ConfigError, GeometryError, InputFormatError
from voxforge.nn.classify.calibration import OpenSetRule, softmax
from voxforge.nn.classify.data import OBJECT_CELLS, mesh_to_grid, normalize_points, rotate_z
from voxforge.nn.classify.models import create_model
from voxforge.nn.datasets import GRID
from voxforge.nn.weights import models_dir, read_safetensors, write_safetensors

LOW_CONFIDENCE = 0.5
"""Top probabilities below this are reported as uncertain by the CLI."""
UNKNOWN = "unknown"
"""The answer for an input the model's open-set rule rejects (not one of its classes)."""


@dataclass
class Classifier:
    """A loaded classifier and its contract.

    Attributes:
        model: the network in eval mode.
        classes: label names, index = output unit.
        input_kind: ``"voxels"`` or ``"points"``.
        info: the JSON sidecar (architecture, input contract, metrics).
        views: default rotation-voting views.
    """

    model: nn.Module
    classes: list[str]
    input_kind: str
    info: dict[str, Any] = field(default_factory=dict)
    views: int = 12

    @property
    def rule(self) -> OpenSetRule | None:
        """Temperature and "unknown shape" rule from the JSON sidecar, or None (uncalibrated)."""
        return OpenSetRule.from_info(self.info)

    @torch.no_grad()
    def predict_logits(
        self, x: np.ndarray, *, views: int | None = None, batch_size: int = 32
    ) -> np.ndarray:
        """(N, C) float32 logits averaged over ``views`` rotations about z.

        ``x`` is (N, 32, 32, 32) occupancy for voxel models or (N, P, 3) points for point models.
        """
        views = self.views if views is None else max(1, int(views))
        x = np.asarray(x)
        self.model.eval()
        out = []
        for start in range(0, len(x), batch_size):
            chunk = x[start : start + batch_size]
            t = torch.from_numpy(_views(chunk, views, self.input_kind))
            if self.input_kind == "voxels":
                t = t.unsqueeze(1)
            out.append(self.model(t).float().reshape(views, len(chunk), -1).mean(0).numpy())
        if not out:
            return np.zeros((0, len(self.classes)), np.float32)
        return np.concatenate(out).astype(np.float32)

    def predict_logits_features(
        self,
        x: np.ndarray,
        *,
        views: int | None = None,
        batch_size: int = 32,
        descriptors: bool | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(N, C) logits and (N, D) pooled penultimate features, each averaged over ``views``.

        One forward pass gives both: the logits equal :meth:`predict_logits`'s, the features
        feed the open-set rule's outlier head. With ``descriptors`` (by default: when the model's
        outlier head reads them) the features end with the inputs'
        :func:`~voxforge.nn.classify.outliers.shape_descriptors` (voxel models only).
        """
        if descriptors is None:
            rule = self.rule
            descriptors = rule is not None and rule.needs_descriptors
        if descriptors and self.input_kind != "voxels":
            raise ConfigError("shape descriptors are defined for voxel classifiers only")
        logits, feats = self._logits_features(x, views, batch_size)
        if descriptors:
            from voxforge.nn.classify.outliers import shape_descriptors

            feats = np.concatenate([feats, shape_descriptors(x).astype(feats.dtype)], 1)
        return logits, feats

    @torch.no_grad()
    def _logits_features(
        self, x: np.ndarray, views: int | None, batch_size: int
    ) -> tuple[np.ndarray, np.ndarray]:
        views = self.views if views is None else max(1, int(views))
        x = np.asarray(x)
        self.model.eval()
        logits, feats = [], []
        for start in range(0, len(x), batch_size):
            chunk = x[start : start + batch_size]
            t = torch.from_numpy(_views(chunk, views, self.input_kind))
            if self.input_kind == "voxels":
                t = t.unsqueeze(1)
            f = self.model.forward_features(t).float()  # type: ignore[operator]
            lg = self.model.head(f).float()  # type: ignore[operator]
            logits.append(lg.reshape(views, len(chunk), -1).mean(0).numpy())
            feats.append(f.reshape(views, len(chunk), -1).mean(0).numpy())
        if not logits:
            dim = int(getattr(self.model, "feature_dim", 0))
            return np.zeros((0, len(self.classes)), np.float32), np.zeros((0, dim), np.float32)
        return np.concatenate(logits), np.concatenate(feats)

    def predict_proba(
        self, x: np.ndarray, *, views: int | None = None, batch_size: int = 32
    ) -> np.ndarray:
        """(N, C) float32 class probabilities over ``views`` rotations about z.

        A calibrated model (``calibration`` in its JSON) gives ``softmax(mean logits / T)``;
        an uncalibrated one the mean of the views' softmax outputs.
        """
        rule = self.rule
        if rule is not None:
            logits = self.predict_logits(x, views=views, batch_size=batch_size)
            return softmax(logits, rule.temperature).astype(np.float32)
        return self._mean_softmax(x, views, batch_size)

    @torch.no_grad()
    def _mean_softmax(self, x: np.ndarray, views: int | None, batch_size: int) -> np.ndarray:
        views = self.views if views is None else max(1, int(views))
        x = np.asarray(x)
        self.model.eval()
        out = []
        for start in range(0, len(x), batch_size):
            chunk = x[start : start + batch_size]
            stack = _views(chunk, views, self.input_kind)
            t = torch.from_numpy(stack)
            if self.input_kind == "voxels":
                t = t.unsqueeze(1)
            prob = torch.softmax(self.model(t).float(), dim=1).reshape(views, len(chunk), -1)
            out.append(prob.mean(0).numpy())
        if not out:
            return np.zeros((0, len(self.classes)), np.float32)
        return np.concatenate(out).astype(np.float32)

    def top_k(
        self, x: np.ndarray, k: int = 3, *, views: int | None = None
    ) -> list[list[tuple[str, float]]]:
        """Per sample, the ``k`` most probable (class, probability) pairs, best first."""
        prob = self.predict_proba(x, views=views)
        order = np.argsort(-prob, axis=1, kind="stable")[:, :k]
        return [
            [(self.classes[j], float(p[j])) for j in row] for p, row in zip(prob, order, strict=True)
        ]


def _views(chunk: np.ndarray, views: int, kind: str) -> np.ndarray:
    """(views * n, ...) float32 rotated copies, view-major."""
    if kind == "voxels":
        grids = (chunk > 0).astype(np.uint8)
        return np.concatenate([rotate_z(grids, 360.0 * k / views) for k in range(views)]).astype(
            np.float32
        )
    ang = 2 * np.pi * np.arange(views) / views
    c, s = np.cos(ang), np.sin(ang)
    rot = np.zeros((views, 3, 3), np.float32)
    rot[:, 0, 0], rot[:, 0, 1], rot[:, 1, 0], rot[:, 1, 1], rot[:, 2, 2] = c, -s, s, c, 1
    out = np.einsum("npk,vjk->vnpj", chunk.astype(np.float32), rot)
    return np.ascontiguousarray(out.reshape(-1, *chunk.shape[1:]), dtype=np.float32)


# --------------------------------------------------------------------------- save / load


def save_classifier(
    model: nn.Module,
    stem: str | Path,
    *,
    classes: list[str],
    input_kind: str,
    extra: dict[str, Any] | None = None,
) -> tuple[Path, Path]:
    """Write ``<stem>.safetensors`` (float32 weights) and ``<stem>.json`` (contract, labels).

    Returns the two paths.
    """
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    st = stem.with_suffix(".safetensors")
    write_safetensors(model, st, metadata={"arch": model.arch_name})  # type: ignore[attr-defined]
    contract: dict[str, Any] = (
        {"shape": [None, 1, GRID, GRID, GRID], "dtype": "float32", "values": "occupancy 0/1",
         "axes": "x, y, z (z up)", "object_cells": OBJECT_CELLS,
         "lattice": "cubic, longest side spans object_cells, centred"}
        if input_kind == "voxels"
        else {"shape": [None, "P", 3], "dtype": "float32", "values": "points in the unit ball",
              "axes": "x, y, z (z up)"}
    )  # fmt: skip
    info = {
        "name": stem.name,
        "architecture": model.arch_name,  # type: ignore[attr-defined]
        "arch_args": _jsonable(model.arch_args),  # type: ignore[attr-defined]
        "input_kind": input_kind,
        "input": contract,
        "labels": list(classes),
        "voting_views": 12,
        **(extra or {}),
    }
    js = stem.with_suffix(".json")
    js.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return st, js


def load_classifier(name: str | Path = "classifier-voxel") -> Classifier:
    """Load a shipped classifier by name (``models/<name>.*``) or by path to its JSON/weights.

    Raises:
        ConfigError: no such model, or weights that do not fit the declared architecture.
    """
    p = Path(name)
    if p.suffix in (".json", ".safetensors"):
        stem = p.with_suffix("")
    elif p.parent != Path("."):
        stem = p
    else:
        stem = models_dir() / str(name)
    js, st = stem.with_suffix(".json"), stem.with_suffix(".safetensors")
    if not js.is_file() or not st.is_file():
        known = sorted(f.stem for f in models_dir().glob("*.safetensors"))
        raise ConfigError(
            f"model {str(name)!r} not found ({js} and {st}); shipped: {', '.join(known) or 'none'}"
        )
    info = json.loads(js.read_text(encoding="utf-8"))
    model = create_model(info["architecture"], **info["arch_args"])
    state = read_safetensors(st)
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise ConfigError(
            f"{st}: weights do not fit {info['architecture']} ({str(err).splitlines()[0]})"
        ) from None
    model.eval()
    return Classifier(
        model, list(info["labels"]), info["input_kind"], info, int(info.get("voting_views", 12))
    )


def _jsonable(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    return v


# --------------------------------------------------------------------------- inputs


def object_to_grid(obj: object) -> np.ndarray:
    """Any core object (Mesh, PointCloud, VoxelGrid) -> (32, 32, 32) uint8 classifier input.

    Meshes and clouds go through voxforge's voxelizer on the cubic lattice (longest side 24 cells,
    centred); a voxel grid is resampled by its cells' physical extent, so LEGO-lattice grids
    (8 x 8 x 3.2 mm cells) keep their proportions.

    Raises:
        GeometryError: an empty grid or geometry the voxelizer refuses.
    """
    from voxforge.core.voxelgrid import VoxelGrid

    if isinstance(obj, VoxelGrid):
        return voxelgrid_to_input(obj.occupancy, obj.pitch, name=str(obj.meta.get("source", "grid")))
    return mesh_to_grid(obj)


def voxelgrid_to_input(
    occupancy: np.ndarray, pitch: np.ndarray | float = 1.0, *, name: str = "grid"
) -> np.ndarray:
    """(a, b, c) occupancy with cell size ``pitch`` (3,) -> (32, 32, 32) uint8, longest side 24 cells.

    Each output cell takes the occupancy of the input cell under its centre (nearest neighbour in
    physical units), after cropping the input to its filled bounding box and centring it.
    """
    occ = np.asarray(occupancy) > 0
    if occ.ndim != 3:
        raise InputFormatError(f"{name}: expected a 3-D occupancy grid, found shape {occ.shape}")
    if not occ.any():
        raise GeometryError(f"{name}: the voxel grid is empty; nothing to classify")
    pitch = np.broadcast_to(np.asarray(pitch, dtype=np.float64), (3,))
    nz = np.argwhere(occ)
    lo, hi = nz.min(0), nz.max(0) + 1
    occ = occ[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]]
    extent = np.asarray(occ.shape) * pitch  # physical size
    cell = extent.max() / OBJECT_CELLS  # output cell size
    out_n = np.maximum(1, np.minimum(GRID, np.round(extent / cell).astype(int)))
    axes = [
        np.minimum(((np.arange(n) + 0.5) * cell / p).astype(int), s - 1)
        for n, p, s in zip(out_n, pitch, occ.shape, strict=True)
    ]
    sub = occ[np.ix_(*axes)]
    out = np.zeros((GRID,) * 3, np.uint8)
    off = (GRID - out_n) // 2
    out[off[0] : off[0] + out_n[0], off[1] : off[1] + out_n[1], off[2] : off[2] + out_n[2]] = sub
    return out


def object_to_points(obj: object, n_points: int = 1024, seed: int = 0) -> np.ndarray:
    """Any core object -> (n_points, 3) float32 points in the unit ball (point models)."""
    from voxforge.core.mesh import Mesh
    from voxforge.core.pointcloud import PointCloud
    from voxforge.nn.classify.data import mesh_to_points, points_from_voxels

    if isinstance(obj, Mesh):
        return mesh_to_points(obj, n_points, seed)
    if isinstance(obj, PointCloud):
        if len(obj) == 0:
            raise GeometryError("the point cloud is empty; nothing to classify")
        rng = np.random.default_rng(seed)
        pick = (
            rng.integers(len(obj), size=n_points)
            if len(obj) < n_points
            else rng.permutation(len(obj))[:n_points]
        )
        return normalize_points(obj.xyz[pick])
    return points_from_voxels(object_to_grid(obj)[None], n_points, seed)[0]


@dataclass
class Classification:
    """The result of classifying one input: top classes, the open-set verdict, the model.

    Attributes:
        source: what was classified (file name or object source).
        top: the ``k`` most probable (class, probability) pairs, best first (calibrated when the
            model carries a temperature).
        model: the model's name.
        unknown: the model's open-set rule says the input is none of its classes.
        open_set: the rule's score for this input and its threshold, when the model has one.
    """

    source: str
    top: list[tuple[str, float]]
    model: str
    unknown: bool = False
    open_set: dict[str, Any] | None = None

    @property
    def label(self) -> str:
        """The answer: the top class, or ``"unknown"`` when the open-set rule rejects the input."""
        return UNKNOWN if self.unknown else self.top[0][0]

    @property
    def low_confidence(self) -> bool:
        return self.unknown or self.top[0][1] < LOW_CONFIDENCE

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "source": self.source,
            "model": self.model,
            "label": self.label,
            "top": [{"class": c, "probability": round(p, 4)} for c, p in self.top],
            "unknown": self.unknown,
            "low_confidence": self.low_confidence,
        }
        if self.open_set is not None:
            out["open_set"] = self.open_set
        return out


def classify_object(
    obj: object, classifier: Classifier | None = None, *, k: int = 3, views: int | None = None
) -> Classification:
    """Classify a Mesh, PointCloud or VoxelGrid, with the model's "unknown shape" rule applied.

    This is the one function ``voxforge classify``, the service's classify pipeline and
    brickify's ``summary.json`` call, so all three give the same answer for the same input.
    """
    clf = classifier or load_classifier()
    x = object_to_grid(obj) if clf.input_kind == "voxels" else object_to_points(obj)
    source = str(getattr(obj, "meta", {}).get("source", type(obj).__name__))
    name = str(clf.info.get("name", ""))
    rule = clf.rule
    if rule is None:
        return Classification(source, clf.top_k(x[None], k=k, views=views)[0], name)
    feats = None
    if rule.needs_features:
        logits, feats = clf.predict_logits_features(x[None], views=views)
    else:
        logits = clf.predict_logits(x[None], views=views)
    prob = softmax(logits, rule.temperature)[0]
    order = np.argsort(-prob, kind="stable")[:k]
    top = [(clf.classes[j], float(prob[j])) for j in order]
    score = float(rule.scores(logits, feats)[0])
    unknown = bool(rule.is_unknown(logits, feats)[0])
    detail = {"score": rule.score, "value": round(score, 4), "threshold": round(rule.threshold, 4)}
    return Classification(source, top, name, unknown, detail)


def classify_file(
    path: str | Path, model: str | Path = "classifier-voxel", *, k: int = 3, views: int | None = None
) -> Classification:
    """Read anything :func:`voxforge.scan.capture.load_input` reads (captures fused) and classify
    it (top ``k``)."""
    from voxforge.scan.capture import load_input

    obj = load_input(path)
    result = classify_object(obj, load_classifier(model), k=k, views=views)
    result.source = str(path)
    return result
