"""Reconstruct a 3D shape from one or more images or sketches with a shipped network.

Whatever the network, the result is in the FIRST view's yaw frame (the object's grid turned
about z by minus that view's camera azimuth, like ``voxforge.nn.reconstruct.renderset.view_target``). Two
kinds of networks get there differently (``frame`` in the model's JSON sidecar):

``frame: object`` (:func:`fuse_canonical`): the network predicts the object in its own frame
(the data file's, the same for every view) and, with an azimuth head, where the camera stood.
Views are fused by averaging their object-frame probabilities with per-voxel confidence weights
(no azimuths needed), then the average is turned into the first view's yaw frame by the first
view's azimuth: the network's prediction for it when no azimuths are given, else a consensus of
every view's predicted azimuth shifted by the given relative ones (``pred_i - (a_i - a_0)``, the
confidence-weighted circular mean of the largest group that agrees within 20°, so one view
fooled by a symmetric object does not drag the others).

``frame: view`` (older models): the network predicts each view in its own yaw frame. Several
views of one object are fused in the FIRST view's frame: view ``i`` is turned about z by
``a_i - a_0`` degrees (counter-clockwise seen from above, the convention of
``voxforge.nn.classify.data.rotate_z``) and the occupancy probabilities (bilinear,
``renderset.rotate_probabilities``) are averaged with per-voxel weights, the network's confidence
that its own prediction of that voxel is right (so the view that saw a part dominates it).
When the azimuths of real photos are unknown (``azimuths=None``) the views are assumed to be
taken walking once around the object in equal steps, in the order given (``360 * i / K``
degrees); a single image needs no azimuth.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from voxforge.core.errors import ConfigError, InputFormatError
from voxforge.nn.reconstruct.models import IMAGE_SIZE, VOXELS, create_recon_model, images_to_tensor
from voxforge.nn.reconstruct.renderset import rotate_probabilities
from voxforge.nn.weights import models_dir, read_safetensors, write_safetensors

log = logging.getLogger(__name__)

Kind = Literal["image", "sketch"]
KINDS: tuple[str, ...] = ("image", "sketch")
FRAMES: tuple[str, ...] = ("view", "object")


@dataclass
class Reconstruction:
    """The fused prediction for one object, in the first view's yaw frame (z up).

    Attributes:
        occupancy: (32, 32, 32) float32 occupancy probabilities, axes (x, y, z).
        points: (N, 3) float32 surface points in the grid's unit cube ``[-0.5, 0.5]^3`` (cell ``i``
            has its centre at ``(i + 0.5) / 32 - 0.5``), or None.
        mesh_vertices: (V, 3) float32 vertices in the same cube, or None.
        mesh_faces: (F, 3) int64 triangle indices, or None.
        kind: ``"image"`` or ``"sketch"``: which network made it.
        azimuths: (K,) degrees used for the views (given, or assumed; see the module doc). An
            object-frame network without given azimuths reports its own estimates relative to
            the first view (the first is 0).
        familiarity: models that know their training classes: ``familiar`` (False: "this does
            not look like any of the shapes the model knows"), ``similarity``, ``nearest`` class.
    """

    occupancy: np.ndarray
    points: np.ndarray | None
    mesh_vertices: np.ndarray | None
    mesh_faces: np.ndarray | None
    kind: str
    azimuths: tuple[float, ...] = ()
    familiarity: dict[str, Any] | None = None

    def voxels(self, threshold: float = 0.4) -> np.ndarray:
        """(32, 32, 32) bool occupancy at ``threshold`` (0.4 is the validation-chosen default)."""
        return self.occupancy >= threshold


# --------------------------------------------------------------------------- rotations


def rotate_points_z(points: np.ndarray, angle_deg: float) -> np.ndarray:
    """(N, 3) points turned counter-clockwise about the z axis through the cube centre."""
    t = math.radians(angle_deg)
    c, s = math.cos(t), math.sin(t)
    rot = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]], np.float32)
    return (points @ rot.T).astype(np.float32)


AGREE_DEG = 20.0
"""Per-view estimates of the first view's azimuth within this many degrees of each other agree."""


def to_view_frame(canonical: np.ndarray, azimuth_deg: np.ndarray | float) -> np.ndarray:
    """(B, s, s, s) object-frame probabilities -> the yaw frames of cameras at ``azimuth_deg``
    (B,) degrees: turned by minus the azimuth, bilinear in each z slice (like ``view_target``)."""
    return rotate_probabilities(canonical, -np.asarray(azimuth_deg, np.float64).reshape(-1))


def consensus_azimuth(estimates: np.ndarray, weights: np.ndarray, agree_deg: float = AGREE_DEG) -> float:
    """Degrees in [0, 360): the weighted circular mean of the estimates agreeing (within
    ``agree_deg``) with the estimate whose agreeing group has the largest total weight."""
    est = np.mod(np.asarray(estimates, np.float64).reshape(-1), 360.0)
    w = np.maximum(np.asarray(weights, np.float64).reshape(-1), 1e-9)
    gap = np.abs(np.mod(est[:, None] - est[None, :] + 180.0, 360.0) - 180.0)
    close = gap <= agree_deg
    members = close[int(np.argmax(close @ w))]
    t = np.deg2rad(est[members])
    mean = math.atan2(float((w[members] * np.sin(t)).sum()), float((w[members] * np.cos(t)).sum()))
    deg = math.degrees(mean) % 360.0
    return 0.0 if deg >= 360.0 else deg  # a tiny negative angle would round to 360


def fuse_canonical(
    probs: np.ndarray,
    confidence: np.ndarray,
    predicted_azimuths: np.ndarray,
    azimuth_confidence: np.ndarray,
    azimuths: np.ndarray | None = None,
) -> tuple[np.ndarray, float]:
    """Fuse per-view OBJECT-frame predictions and turn them into the first view's yaw frame.

    Args:
        probs: (K, s, s, s) occupancy probabilities, all in the object's frame.
        confidence: (K, s, s, s) per-voxel weights in (0, 1].
        predicted_azimuths: (K,) the network's camera azimuth of each view, degrees.
        azimuth_confidence: (K,) how sure it is of each (weights of the consensus).
        azimuths: (K,) given camera azimuths (only differences matter), or None: use the first
            view's predicted azimuth alone.

    Returns:
        (s, s, s) float32 fused probabilities in the first view's yaw frame, and the azimuth
        (degrees) used for the first view.
    """
    w = np.maximum(np.asarray(confidence, np.float32), 0.0) + 1e-6
    canon = (w * np.asarray(probs, np.float32)).sum(axis=0) / w.sum(axis=0)
    pred = np.asarray(predicted_azimuths, np.float64).reshape(-1)
    if azimuths is None:
        yaw = float(np.mod(pred[0], 360.0))
    else:
        rel = np.asarray(azimuths, np.float64).reshape(-1) - float(azimuths[0])
        yaw = consensus_azimuth(pred - rel, azimuth_confidence)
    return to_view_frame(canon[None], yaw)[0], yaw


def fuse_occupancy(
    probs: np.ndarray, confidence: np.ndarray, azimuths: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Fuse per-view (K, 32, 32, 32) probabilities into the first view's frame.

    Args:
        probs: (K, s, s, s) float occupancy probabilities, each in its own view frame.
        confidence: (K, s, s, s) float in (0, 1], the per-voxel weight of each view.
        azimuths: (K,) camera azimuths, degrees.

    Returns:
        (s, s, s) float32 fused probabilities and (K, s, s, s) float32 normalised weights.
    """
    rel = np.asarray(azimuths, np.float64) - float(azimuths[0])
    p = rotate_probabilities(probs, rel)
    w = rotate_probabilities(confidence, rel)  # zero where the turned grid has no source
    w = np.maximum(w, 0.0) + 1e-6
    w /= w.sum(axis=0, keepdims=True)
    return (w * p).sum(axis=0).astype(np.float32), w.astype(np.float32)


# --------------------------------------------------------------------------- inputs


def _check_image(img: Any, i: int) -> np.ndarray:
    """One preprocessed input as (128, 128, 3) uint8, or a one-line error naming it."""
    if not isinstance(img, np.ndarray):
        raise InputFormatError(f"image {i}: expected a numpy array, got {type(img).__name__}")
    if img.dtype != np.uint8:
        raise InputFormatError(f"image {i}: expected uint8 pixels, got {img.dtype}")
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[..., 0]
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    if img.shape != (IMAGE_SIZE, IMAGE_SIZE, 3):
        raise InputFormatError(
            f"image {i}: expected a preprocessed {IMAGE_SIZE}x{IMAGE_SIZE} RGB or grey image "
            f"(voxforge.nn.reconstruct.photo.prepare_image makes one), got shape {img.shape}"
        )
    return img


def resolve_azimuths(n_views: int, azimuths: list[float] | None) -> np.ndarray:
    """(K,) float64 degrees: the given ones, or equal steps around the object when None."""
    if azimuths is None:
        if n_views > 1:
            log.info(
                "no azimuths given for %d views: assuming equal %.0f° steps", n_views, 360 / n_views
            )
        return 360.0 * np.arange(n_views) / n_views
    az = np.asarray(azimuths, dtype=np.float64).reshape(-1)
    if len(az) != n_views:
        raise ConfigError(f"got {n_views} images but {len(az)} azimuths; give one azimuth per image")
    if not np.isfinite(az).all():
        raise ConfigError(f"azimuths must be finite degrees, got {az.tolist()}")
    return az


# --------------------------------------------------------------------------- reconstructor


@dataclass
class Reconstructor:
    """A loaded reconstruction network and its contract.

    Attributes:
        model: a :class:`voxforge.nn.reconstruct.models.ReconNet` (put in eval mode here).
        kind: ``"image"`` or ``"sketch"``: what the network was trained on.
        info: the JSON sidecar (architecture, metrics), empty for an in-memory model.
        device: torch device the network runs on.
        frame: ``"view"`` or ``"object"`` (module doc); None: the sidecar's ``frame``, else
            ``"object"`` exactly when the network has an azimuth head.
        flip_tta: object frame only: also run the left-right flipped images (the object
            mirrored in y, seen from minus the azimuth) and average (twice the compute; about
            +0.01 IoU).
    """

    model: nn.Module
    kind: str = "image"
    info: dict[str, Any] = field(default_factory=dict)
    device: str = "cpu"
    frame: str | None = None
    flip_tta: bool = True

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"reconstructor kind must be one of {KINDS}, got {self.kind!r}")
        if self.frame is None:
            has_head = getattr(self.model, "azimuth", None) is not None
            self.frame = str(self.info.get("frame", "object" if has_head else "view"))
        if self.frame not in FRAMES:
            raise ConfigError(f"reconstructor frame must be one of {FRAMES}, got {self.frame!r}")
        if self.frame == "object" and getattr(self.model, "azimuth", None) is None:
            raise ConfigError("an object-frame reconstructor needs a network with an azimuth head")
        self.model.to(self.device).eval()

    @torch.inference_mode()
    def predict(self, images: list[np.ndarray], azimuths: list[float] | None = None) -> Reconstruction:
        """Reconstruct one object from K preprocessed views of it.

        Args:
            images: K arrays, (128, 128, 3) or (128, 128) uint8: the object centred on a plain
                light background (a render-set view, or ``voxforge.nn.reconstruct.photo.prepare_image``);
                sketches dark lines on white.
            azimuths: K camera azimuths in degrees (only differences matter), or None (see the
                module doc for the assumption).

        Returns:
            The fused :class:`Reconstruction` in the first view's frame.
        """
        if not isinstance(images, (list, tuple)) or not images:
            raise InputFormatError("predict needs a non-empty list of images")
        batch = np.stack([_check_image(img, i) for i, img in enumerate(images)])
        if self.frame == "object":
            return self._predict_object(batch, azimuths)
        az = resolve_azimuths(len(batch), azimuths)
        out = self.model(images_to_tensor(batch).to(self.device))
        probs = torch.sigmoid(out.voxel_logits).float().cpu().numpy()
        conf = torch.sigmoid(out.confidence_logits).float().cpu().numpy()
        pts = out.points.float().cpu().numpy()
        verts = out.mesh_vertices.float().cpu().numpy()
        faces = self.model.mesh_faces.cpu().numpy()  # type: ignore[union-attr]
        if len(batch) == 1:
            return Reconstruction(probs[0], pts[0], verts[0], faces, self.kind, (float(az[0]),))
        occ, _ = fuse_occupancy(probs, conf, az)
        rel = az - az[0]
        turned = np.concatenate([rotate_points_z(p, r) for p, r in zip(pts, rel, strict=True)])
        points = turned[:: len(batch)]  # every K-th: an even share of each view's points
        best = int(np.argmax(conf.reshape(len(conf), -1).mean(axis=1)))
        mesh = rotate_points_z(verts[best], float(rel[best]))
        return Reconstruction(occ, points, mesh, faces, self.kind, tuple(float(a) for a in az))

    def _predict_object(self, batch: np.ndarray, azimuths: list[float] | None) -> Reconstruction:
        """:meth:`predict` of an object-frame network (:func:`fuse_canonical`)."""
        from voxforge.nn.reconstruct.models import object_frame_voxels

        given = None if azimuths is None else resolve_azimuths(len(batch), azimuths)
        x = images_to_tensor(batch).to(self.device)
        out, *rest = object_frame_voxels(self.model, x, ("voxels", "points", "mesh"), self.flip_tta)
        probs, conf, pred, pred_conf = (t.float().cpu().numpy() for t in rest)
        occ, yaw = fuse_canonical(probs, conf, pred, pred_conf, given)
        faces = self.model.mesh_faces.cpu().numpy()  # type: ignore[union-attr]
        pts = out.points.float().cpu().numpy()
        points = np.concatenate(list(pts))[:: len(batch)]  # every K-th: an even share of each view
        best = int(np.argmax(conf.reshape(len(conf), -1).mean(axis=1)))
        mesh = out.mesh_vertices.float().cpu().numpy()[best]
        used = given if given is not None else np.mod(pred - pred[0], 360.0)
        return Reconstruction(occ, rotate_points_z(points, -yaw), rotate_points_z(mesh, -yaw), faces,
                              self.kind, tuple(float(a) for a in used))  # fmt: skip


# --------------------------------------------------------------------------- save / load


def weights_stem(kind: str) -> Path:
    """``models/reconstruction-<kind>`` (without suffix) in the shipped models folder."""
    return models_dir() / f"reconstruction-{kind}"


def save_reconstructor(
    model: nn.Module,
    stem: str | Path,
    *,
    kind: str,
    extra: dict[str, Any] | None = None,
    frame: str = "view",
) -> tuple[Path, Path]:
    """Write ``<stem>.safetensors`` (float16 weights, half the size; loaded back as float32) and
    ``<stem>.json`` (architecture, input contract, ``frame`` the network predicts in: ``view`` or
    ``object``, see the module doc). Returns the two paths."""
    if frame not in FRAMES:
        raise ConfigError(f"frame must be one of {FRAMES}, got {frame!r}")
    from voxforge.core.outputs import atomic_write_bytes

    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    st = stem.with_suffix(".safetensors")
    meta = {"arch": model.arch_name, "kind": kind, "frame": frame}  # type: ignore[attr-defined]
    write_safetensors(model, st, half=True, metadata=meta)
    info = {
        "name": stem.name,
        "architecture": model.arch_name,  # type: ignore[attr-defined]
        "arch_args": json.loads(json.dumps(model.arch_args)),  # type: ignore[attr-defined]
        "kind": kind,
        "frame": frame,
        "weights_dtype": "float16",
        "input": {"shape": [None, IMAGE_SIZE, IMAGE_SIZE, 3], "dtype": "uint8",
                  "content": "object centred on a plain light background" if kind == "image"
                  else "dark line drawing on white"},
        "output": {"occupancy": [VOXELS] * 3, "axes": "x, y, z (z up)",
                   "frame": "first view's yaw frame (object turned about z by minus the azimuth)",
                   "network_frame": "object frame + predicted azimuth, fused in the object frame"
                   if frame == "object" else "each view's own yaw frame",
                   "points_and_mesh": "unit cube [-0.5, 0.5]^3 of the grid"},
        **(extra or {}),
    }  # fmt: skip
    js = stem.with_suffix(".json")
    atomic_write_bytes(js, (json.dumps(info, indent=2) + "\n").encode("utf-8"))
    return st, js


def _weights_file(stem: Path) -> Path:
    """``<stem>.safetensors``, or the file its sidecar's ``weights_file`` names in the same folder
    (one decoder shipped once serves both the image and the sketch sidecars)."""
    js = stem.with_suffix(".json")
    try:
        name = json.loads(js.read_text(encoding="utf-8")).get("weights_file") if js.is_file() else None
    except (json.JSONDecodeError, OSError, AttributeError):
        name = None
    if isinstance(name, str) and name and Path(name).name == name:
        return stem.parent / name
    return stem.with_suffix(".safetensors")


def load_reconstructor(
    kind: Kind = "image", weights: Path | None = None, device: str | None = "auto"
) -> Reconstructor:
    """Load the shipped image or sketch network (``models/reconstruction-<kind>.*``) or ``weights``
    (a ``.safetensors`` or ``.json`` path, or the stem of both) on ``device`` (``auto``, ``cpu``,
    ``cuda``, ``mps``; :func:`voxforge.nn.device.resolve_device`).

    Raises:
        ConfigError: unknown kind or device, missing files (naming them and how to train), or
            weights that do not fit the declared architecture.
    """
    from voxforge.nn.device import resolve_device

    device = resolve_device(device)
    if kind not in KINDS:
        raise ConfigError(f"reconstructor kind must be one of {KINDS}, got {kind!r}")
    stem = weights_stem(kind) if weights is None else Path(weights)
    if stem.suffix in (".json", ".safetensors"):
        stem = stem.with_suffix("")
    js, st = stem.with_suffix(".json"), _weights_file(stem)
    if not js.is_file() or not st.is_file():
        raise ConfigError(
            f"reconstruction model {stem.name!r} not found ({js} and {st}); train one with "
            f"`voxforge train reconstruction --config configs/reconstruction/{kind}.yaml`"
        )
    try:
        info = json.loads(js.read_text(encoding="utf-8"))
        if info.get("architecture") == "featvox":  # pretrained encoder + voxel decoder
            from voxforge.nn.reconstruct.featvox import load_featvox

            return load_featvox(info, st, kind, device)  # type: ignore[return-value]
        model = create_recon_model(info["architecture"], **info["arch_args"])
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise ConfigError(f"{js}: not a reconstruction model sidecar ({err})") from None
    try:
        model.load_state_dict(read_safetensors(st))
    except (RuntimeError, OSError) as err:
        raise ConfigError(
            f"{st}: weights do not fit {info['architecture']} ({str(err).splitlines()[0]})"
        ) from None
    return Reconstructor(
        model, str(info.get("kind", kind)), info, device, str(info.get("frame", "view"))
    )
