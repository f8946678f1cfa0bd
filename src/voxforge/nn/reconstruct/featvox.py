"""Image or sketch to 32³ voxels on a pretrained encoder: a small decoder and Pix2Vox fusion.

The encoder (:mod:`voxforge.nn.encoders.image`, EfficientNet-Lite0 by default) is frozen while the
decoder trains on cached features (:mod:`voxforge.nn.reconstruct.features`); a model may then be
fine-tuned end to end (:mod:`voxforge.nn.reconstruct.finetune`), its encoder tensors stored under
``encoder.`` keys. The decoder
(:class:`VoxelDecoder`) reduces the stride-16 and stride-32 maps with 2D convolutions, joins them
with the pooled head vector, lifts the result through one linear layer to a 4³ seed (a global
layer: the network learns which image axis becomes which grid axis) and grows it to 32³ with 3D
transposed convolutions. With ``spatial`` channels set, a second path keeps the 8x8 map: the
``mid`` map and the ``top`` map (upsampled) go through a 1x1 convolution to ``spatial * 8``
channels that are read as an 8³ volume of ``spatial`` channels (the channels become depth, the
2D-to-3D lift of 3D-R2N2-like decoders), oriented in the view frame (image rows -> z, top row
highest; columns -> +y; depth -> x, nearest the camera highest), refined by one 3D convolution
and joined to the 8³ stage of the seed path. Each view gives two volumes in its own yaw frame
(the contract of :mod:`voxforge.nn.reconstruct.renderset`): occupancy logits and a per-voxel
fusion score.

The last encoder blocks (everything after the cached ``mid`` map: :class:`EncoderTail`) may be
fine-tuned together with the decoder; they start from the pretrained weights (batch norms folded
in, so their statistics stay fixed), train on the cached ``mid`` maps, and ship in the decoder's
weights file under ``encoder.`` keys, which replace those blocks of the frozen encoder at load.

Several views fuse like Pix2Vox's context-aware fusion: every view's occupancy and score are
turned into the first view's yaw frame (by the azimuth differences), the scores go through a
softmax over the views at every voxel and weight the occupancies. Training draws two views of an
object per sample and scores both the single views and their fusion, so the score head learns
which view saw which part.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from voxforge.core.errors import ConfigError

VOXELS = 32
ARCH = "featvox"
"""Architecture name of the decoder in a model's JSON sidecar."""


class VoxelDecoder(nn.Module):
    """Multi-scale encoder features -> (occupancy logits, fusion scores), each (B, 32, 32, 32).

    Args:
        channels: (mid, top, pooled) channels of the encoder features.
        mid_size: side of the ``mid`` map (its reduction to the ``top`` side is a strided conv).
        reduce: channels of each reduced 2D map.
        pooled_width: width of the pooled vector's projection.
        seed_channels: channels of the 4³ seed volume.
        widths: channels at 8³, 16³ (the last transposed convolution doubles to 32³ and gives the
            two output volumes directly: nothing else runs at 32³, the costly size on a CPU).
        dropout: on the joined vector, in training.
        spatial: channels of the 8³ volume lifted from the 8x8 maps (0: no such path).
    """

    def __init__(
        self,
        channels: tuple[int, int, int] = (112, 320, 1280),
        mid_size: int = 8,
        reduce: int = 64,
        pooled_width: int = 256,
        seed_channels: int = 32,
        widths: tuple[int, ...] = (32, 16),
        dropout: float = 0.2,
        spatial: int = 0,
    ) -> None:
        super().__init__()
        c_mid, c_top, c_pool = channels
        top_size = mid_size // 2
        self.arch_args: dict[str, Any] = {
            "channels": list(channels), "mid_size": mid_size, "reduce": reduce,
            "pooled_width": pooled_width, "seed_channels": seed_channels, "widths": list(widths),
            "dropout": dropout,
        }  # fmt: skip
        if spatial:  # absent from the arch args of decoders without the path
            self.arch_args["spatial"] = spatial
        self.spatial_channels = spatial
        self.depth = mid_size
        self.mid = nn.Sequential(
            nn.Conv2d(c_mid, reduce, 3, 2, 1), nn.BatchNorm2d(reduce), nn.ReLU(inplace=True)
        )
        self.top = nn.Sequential(
            nn.Conv2d(c_top, reduce, 1), nn.BatchNorm2d(reduce), nn.ReLU(inplace=True)
        )
        self.pooled = nn.Sequential(nn.Linear(c_pool, pooled_width), nn.ReLU(inplace=True))
        joined = 2 * reduce * top_size * top_size + pooled_width
        self.seed_channels = seed_channels
        self.drop = nn.Dropout(dropout)
        self.lift = nn.Linear(joined, seed_channels * 4**3)
        self.lift2d: nn.Module | None = None
        self.lift3d: nn.Module | None = None
        if spatial:
            self.lift2d = nn.Sequential(
                nn.Conv2d(c_mid + c_top, spatial * mid_size, 1, bias=False),
                nn.BatchNorm2d(spatial * mid_size),
                nn.ReLU(inplace=True),
            )
            self.lift3d = nn.Sequential(
                nn.Conv3d(spatial, spatial, 3, 1, 1, bias=False),
                nn.BatchNorm3d(spatial),
                nn.ReLU(inplace=True),
            )
        layers: list[nn.Module] = []
        cin = seed_channels
        for i, w in enumerate(widths):
            layers += [
                nn.ConvTranspose3d(cin, w, 4, 2, 1, bias=False),
                nn.BatchNorm3d(w),
                nn.ReLU(inplace=True),
            ]
            cin = w + (spatial if i == 0 else 0)  # the lifted volume joins the 8³ stage
        self.grow = nn.Sequential(*layers)
        self.out = nn.ConvTranspose3d(cin, 2, 4, 2, 1)  # the last doubling gives the two volumes

    def forward(
        self, mid: torch.Tensor, top: torch.Tensor, pooled: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        a = self.mid(mid).flatten(1)
        b = self.top(top).flatten(1)
        c = self.pooled(pooled)
        z = self.drop(torch.cat([a, b, c], dim=1))
        v = F.relu(self.lift(z)).view(-1, self.seed_channels, 4, 4, 4)
        if self.lift2d is None or self.lift3d is None:
            return self._split(self.out(self.grow(v)))
        v = self.grow[:3](v)  # the seed path at 8³
        v = torch.cat([v, self.lift3d(self.lift_volume(mid, top))], dim=1)
        return self._split(self.out(self.grow[3:](v)))

    @staticmethod
    def _split(o: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return o[:, 0], o[:, 1]

    def lift_volume(self, mid: torch.Tensor, top: torch.Tensor) -> torch.Tensor:
        """(B, spatial, d, d, d) volume in the view frame (axes x, y, z) from the d x d ``mid``
        map and the upsampled ``top`` map: channel block ``k`` of the 1x1 convolution is depth
        ``k`` from the camera (grid x = d-1-k), image column ``c`` is grid y = c, image row ``r``
        is grid z = d-1-r."""
        assert self.lift2d is not None
        d = self.depth
        up = F.interpolate(top, size=mid.shape[-2:], mode="nearest")
        f = self.lift2d(torch.cat([mid, up], dim=1))  # (B, spatial*d, rows, cols)
        v = f.view(f.shape[0], self.spatial_channels, d, d, d)  # (B, C, depth, row, col)
        return v.permute(0, 1, 2, 4, 3).flip(2, 4)  # (B, C, x, y, z)


class EncoderTail(nn.Module):
    """The encoder blocks after the ``mid`` map and its head, trainable: ``mid`` -> (top, pooled).

    Built from a loaded (batch-norm folded) EfficientNet-Lite0 encoder, so it starts as the
    pretrained network; its parameter names are the encoder's (:meth:`encoder_state`).
    """

    def __init__(self, encoder: nn.Module) -> None:
        super().__init__()
        import copy

        from voxforge.nn.encoders.image import _LITE0_MID_BLOCK

        net = getattr(encoder, "net", encoder)
        if not hasattr(net, "_blocks") or not hasattr(net, "_conv_head"):
            raise ConfigError("fine-tuning the encoder's last blocks needs an EfficientNet encoder")
        self.first = _LITE0_MID_BLOCK + 1
        self.blocks = nn.ModuleList(copy.deepcopy(list(net._blocks)[self.first :]))
        self.head = copy.deepcopy(net._conv_head)
        self.head_bn = copy.deepcopy(net._bn1)
        for p in self.parameters():
            p.requires_grad_(True)

    def forward(self, mid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = mid
        for block in self.blocks:
            x = block(x)
        return x, F.relu6(self.head_bn(self.head(x))).mean(dim=(2, 3))

    def encoder_state(self) -> dict[str, torch.Tensor]:
        """The tail's tensors keyed as in the encoder network's state dict."""
        out = {}
        for k, v in self.state_dict().items():
            part, rest = k.split(".", 1)
            if part == "blocks":
                i, rest = rest.split(".", 1)
                out[f"_blocks.{int(i) + self.first}.{rest}"] = v
            else:
                out[("_conv_head." if part == "head" else "_bn1.") + rest] = v
        return out


class VoxelRefiner(nn.Module):
    """Pix2Vox-A's refiner: a small 3D U-Net that corrects a (fused) probability volume with the
    shape priors it learns, as a residual on the logits.

    The network is :class:`voxforge.nn.completion.model.CompletionUNet` on one input channel; its
    output layer starts at zero, so an untrained refiner returns its input. It works on the
    final volume (one view, or the views fused), so one refiner serves any number of views.
    """

    def __init__(self, widths: Sequence[int] = (8, 24, 48, 96)) -> None:
        super().__init__()
        from voxforge.nn.completion.model import CompletionUNet

        self.arch_args: dict[str, Any] = {"widths": list(widths)}
        self.unet = CompletionUNet(tuple(widths), in_channels=1)
        nn.init.zeros_(self.unet.head.weight)
        nn.init.zeros_(self.unet.head.bias)

    def forward(self, probs: torch.Tensor) -> torch.Tensor:
        """(B, R, R, R) probabilities -> (B, R, R, R) refined occupancy logits."""
        p = probs.clamp(1e-4, 1.0 - 1e-4)
        return torch.logit(p) + self.unet(p[:, None])


class CachedFeatureHead(nn.Module):
    """Decoder on cached features, with an optional trainable :class:`EncoderTail` that recomputes
    ``top`` and ``pooled`` from the cached ``mid`` map (the cached ones are then ignored)."""

    def __init__(self, decoder: VoxelDecoder, tail: EncoderTail | None = None) -> None:
        super().__init__()
        self.decoder = decoder
        self.tail = tail

    def forward(
        self, mid: torch.Tensor, top: torch.Tensor, pooled: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if self.tail is not None:
            top, pooled = self.tail(mid)
        return self.decoder(mid, top, pooled)


def rotate_volumes(volumes: torch.Tensor, angle_deg: torch.Tensor) -> torch.Tensor:
    """(B, C, s, s, s) volumes turned about z by ``angle_deg`` (B,) degrees, trilinear in x and y,
    zero outside: the convention of
    :func:`voxforge.nn.reconstruct.renderset.rotate_probabilities` (output cell
    ``(x, y)`` samples the source at ``(cos x + sin y, -sin x + cos y)`` about the centre), and
    differentiable."""
    t = torch.deg2rad(angle_deg.to(volumes.dtype))
    cos, sin = torch.cos(t), torch.sin(t)
    zero, one = torch.zeros_like(t), torch.ones_like(t)
    # affine_grid coordinates are (w, h, d) = (z, y, x) of the grid
    theta = torch.stack([
        torch.stack([one, zero, zero, zero], -1),
        torch.stack([zero, cos, -sin, zero], -1),
        torch.stack([zero, sin, cos, zero], -1),
    ], 1)  # fmt: skip
    grid = F.affine_grid(theta, list(volumes.shape), align_corners=True)
    return F.grid_sample(volumes, grid, mode="bilinear", padding_mode="zeros", align_corners=True)


def fuse_views(probs: torch.Tensor, scores: torch.Tensor, azimuths: torch.Tensor) -> torch.Tensor:
    """Pix2Vox fusion of K views: (K, [B,] s, s, s) probabilities and scores, (K, [B]) azimuths
    (degrees) -> ([B,] s, s, s) probabilities in the first view's frame (of each of B objects)."""
    shape = probs.shape
    rel = (azimuths - azimuths[:1]).reshape(-1)
    flat = torch.stack([probs.reshape(-1, *shape[-3:]), scores.reshape(-1, *shape[-3:])], 1)
    turned = rotate_volumes(flat, rel)
    inside = rotate_volumes(torch.ones_like(flat[:, :1]), rel)[:, 0] > 0.5
    p = turned[:, 0].reshape(shape)
    # a voxel a view's grid does not cover takes no weight
    s = turned[:, 1].masked_fill(~inside, -1e4).reshape(shape)
    w = torch.softmax(s, dim=0)
    return (w * p).sum(dim=0)


def dice_bce(logits: torch.Tensor | None, target: torch.Tensor, probs: torch.Tensor | None = None,
             dice: float = 1.0) -> torch.Tensor:  # fmt: skip
    """Binary cross-entropy plus ``dice`` times the soft Dice loss, averaged over the batch."""
    if probs is None:
        assert logits is not None
        bce = F.binary_cross_entropy_with_logits(logits, target)
        probs = torch.sigmoid(logits)
    else:
        bce = F.binary_cross_entropy(probs.clamp(1e-6, 1 - 1e-6), target)
    dims = tuple(range(1, target.ndim))
    inter = (probs * target).sum(dims)
    d = 1.0 - (2 * inter + 1.0) / (probs.sum(dims) + target.sum(dims) + 1.0)
    return bce + dice * d.mean()


def batch_iou(probs: np.ndarray, target: np.ndarray, threshold: float = 0.4) -> np.ndarray:
    """(B,) IoU of (B, s, s, s) probabilities at ``threshold`` against bool targets."""
    pred = probs >= threshold
    inter = (pred & target).reshape(len(pred), -1).sum(1)
    union = (pred | target).reshape(len(pred), -1).sum(1)
    return np.where(union > 0, inter / np.maximum(union, 1), 1.0)


def check_decoder_args(args: dict[str, Any]) -> dict[str, Any]:
    """The decoder's keyword arguments, or ConfigError naming the unknown one."""
    allowed = {"channels", "mid_size", "reduce", "pooled_width", "seed_channels", "widths", "dropout",
               "spatial"}  # fmt: skip
    bad = sorted(set(args) - allowed)
    if bad:
        raise ConfigError(f"unknown decoder argument(s) {bad}; known: {sorted(allowed)}")
    return args


def param_count(model: nn.Module) -> int:
    return int(sum(p.numel() for p in model.parameters()))


# --------------------------------------------------------------------------- inference


class FeatVoxNet(nn.Module):
    """Frozen encoder + decoder: (B, 3, S, S) images in [0, 1] -> (logits, scores) (B, 32, 32, 32)."""

    def __init__(self, encoder: nn.Module, decoder: VoxelDecoder) -> None:
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.encoder(images.contiguous(memory_format=torch.channels_last))
        return self.decoder(f.mid, f.top, f.pooled)


class FeatVoxReconstructor:
    """``predict(images, azimuths)`` of the pretrained-encoder voxel model (the API of
    :class:`voxforge.nn.reconstruct.inference.Reconstructor`).

    Args:
        net: encoder + decoder.
        kind: ``"image"`` or ``"sketch"`` (what the inputs are; one decoder serves both).
        info: the JSON sidecar.
        threshold: occupancy level of the marching-cubes mesh.
        device: torch device.
        flip_tta: also run every image mirrored left-right (the object mirrored in y) and
            average the two predictions, the mirrored one flipped back (twice the encoder cost).
    """

    def __init__(
        self,
        net: FeatVoxNet,
        kind: str = "image",
        info: dict[str, Any] | None = None,
        threshold: float = 0.4,
        device: str = "cpu",
        flip_tta: bool = False,
    ) -> None:
        self.net = net.to(device).eval()
        self.kind = kind
        self.info = info or {}
        self.threshold = threshold
        self.device = device
        self.flip_tta = flip_tta
        self.familiar: Familiarity | None = None
        self.refiner: VoxelRefiner | None = None

    @torch.inference_mode()
    def volumes(self, images: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per-view (K, 32, 32, 32) probabilities and fusion scores, each in its own yaw frame,
        and the (K, D) pooled encoder features."""
        from voxforge.core.errors import InputFormatError
        from voxforge.nn.reconstruct.inference import _check_image
        from voxforge.nn.reconstruct.models import images_to_tensor

        if not isinstance(images, (list, tuple)) or not images:
            raise InputFormatError("predict needs a non-empty list of images")
        batch = np.stack([_check_image(img, i) for i, img in enumerate(images)])
        x = images_to_tensor(batch).to(self.device)
        k = len(x)
        if self.flip_tta:
            x = torch.cat([x, x.flip(-1)])
        f = self.net.encoder(x.contiguous(memory_format=torch.channels_last))
        logits, scores = self.net.decoder(f.mid, f.top, f.pooled)
        probs = torch.sigmoid(logits)
        if self.flip_tta:  # the mirrored picture shows the object mirrored in y (grid axis 1)
            probs = 0.5 * (probs[:k] + probs[k:].flip(2))
            scores = 0.5 * (scores[:k] + scores[k:].flip(2))
        pooled = f.pooled[:k].float().cpu().numpy()
        return probs.float().cpu().numpy(), scores.float().cpu().numpy(), pooled

    @torch.inference_mode()
    def refine(self, occupancy: np.ndarray) -> np.ndarray:
        """The refiner's (32, 32, 32) probabilities for one (fused) probability volume."""
        assert self.refiner is not None
        x = torch.from_numpy(np.ascontiguousarray(occupancy, np.float32))[None].to(self.device)
        return torch.sigmoid(self.refiner.eval()(x))[0].float().cpu().numpy()

    @torch.inference_mode()
    def predict(self, images: list[np.ndarray], azimuths: list[float] | None = None) -> Any:
        """Reconstruct one object from K preprocessed views (first view's yaw frame); the mesh is
        the marching-cubes surface of the fused probabilities at the threshold."""
        from voxforge.mesh.occupancy import occupancy_surface
        from voxforge.nn.reconstruct.inference import Reconstruction, resolve_azimuths

        probs, scores, pooled = self.volumes(images)
        az = resolve_azimuths(len(probs), azimuths)
        if len(probs) == 1:
            occ = probs[0]
        else:
            occ = fuse_views(torch.from_numpy(probs), torch.from_numpy(scores),
                             torch.from_numpy(az.astype(np.float32))).numpy()  # fmt: skip
        if self.refiner is not None:
            occ = self.refine(occ)
        verts = faces = points = None
        if (occ >= self.threshold).any():
            v, f = occupancy_surface(occ, self.threshold)
            verts, faces = v.astype(np.float32), np.asarray(f, np.int64)
            points = verts[:: max(1, len(verts) // 1024)][:1024]
        known = self.familiar.check(pooled) if self.familiar is not None else None
        return Reconstruction(occ.astype(np.float32), points, verts, faces, self.kind,
                              tuple(float(a) for a in az), familiarity=known)  # fmt: skip


_FAMILIAR = "familiarity."
"""Prefix of the familiarity tensors in a featvox weights file (not decoder weights)."""
_ENCODER = "encoder."
"""Prefix of fine-tuned encoder tensors in a featvox weights file (they replace the package's)."""
_REFINER = "refiner."
"""Prefix of the refiner's tensors in a featvox weights file (:class:`VoxelRefiner`)."""


@dataclass
class Familiarity:
    """Does an input look like the training classes?

    The encoder's pooled feature (L2-normalised) is compared with the training views' features
    in two ways: its distance to their principal subspace (the residual after projecting onto the
    first principal components: features of shapes unlike any training view leave that
    subspace) and its cosine similarity to per-class centroids (which names the nearest class).
    An input is unfamiliar when the residual is above ``residual_threshold``, or, for a model
    without the subspace, when the best similarity is below ``threshold``; both thresholds are a
    low quantile of the validation views.

    Attributes:
        centroids: (C, D) L2-normalised class centroids.
        threshold: similarity below which a model without the subspace calls an input unfamiliar.
        classes: C class names.
        mean, basis: (D,) mean and (k, D) orthonormal principal directions of the training
            features, or None.
        residual_threshold: residual above which an input is unfamiliar (with ``basis``).
    """

    centroids: np.ndarray
    threshold: float
    classes: list[str]
    mean: np.ndarray | None = None
    basis: np.ndarray | None = None
    residual_threshold: float | None = None

    def residuals(self, pooled: np.ndarray) -> np.ndarray:
        """(K,) distances of the L2-normalised features to the training subspace."""
        assert self.mean is not None and self.basis is not None
        q = _unit(pooled) - self.mean
        return np.linalg.norm(q - (q @ self.basis.T) @ self.basis, axis=1)

    def check(self, pooled: np.ndarray) -> dict[str, Any]:
        """(K, D) pooled features of the views -> ``familiar``, ``similarity`` (the views' mean
        best similarity), ``nearest`` class name (by the summed similarities), and with the
        subspace ``residual`` (the views' mean) and its ``residual_threshold``."""
        q = _unit(pooled)
        sim = q @ self.centroids.T
        best = float(sim.max(axis=1).mean())
        c = int(sim.sum(axis=0).argmax())
        name = self.classes[c] if c < len(self.classes) else str(c)
        out: dict[str, Any] = {"familiar": best >= self.threshold, "similarity": round(best, 4),
                               "nearest": name, "threshold": round(self.threshold, 4)}  # fmt: skip
        if self.basis is not None and self.residual_threshold is not None:
            res = float(self.residuals(pooled).mean())
            out.update(familiar=res <= self.residual_threshold, residual=round(res, 4),
                       residual_threshold=round(self.residual_threshold, 4))  # fmt: skip
        return out


def _unit(x: np.ndarray) -> np.ndarray:
    q = np.asarray(x, np.float32)
    return q / (np.linalg.norm(q, axis=1, keepdims=True) + 1e-9)


def save_featvox(decoder: VoxelDecoder, stem: str | Path, *, encoder: str, kind: str,
                 extra: dict[str, Any] | None = None,
                 familiarity: Familiarity | None = None,
                 encoder_state: dict[str, torch.Tensor] | None = None,
                 refiner: VoxelRefiner | None = None) -> tuple[Path, Path]:  # fmt: skip
    """Write ``<stem>.safetensors`` (the decoder, float16, the fine-tuned encoder blocks
    ``encoder_state`` under ``encoder.`` keys and the ``refiner`` under ``refiner.`` keys when
    given; the rest of the encoder comes from its package) and ``<stem>.json`` (architecture,
    encoder, input contract, metrics)."""
    from safetensors.torch import save_file

    from voxforge.core.outputs import atomic_write_bytes

    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: (v.detach().cpu().half() if v.is_floating_point() else v.detach().cpu()).contiguous()
               for k, v in decoder.state_dict().items()}  # fmt: skip
    for k, v in (encoder_state or {}).items():
        tensors[_ENCODER + k] = v.detach().cpu().half().contiguous()
    if encoder_state:
        parts = {".".join(k.split(".")[:2]) if k.startswith("_blocks") else k.split(".")[0]
                 for k in encoder_state}  # fmt: skip
        extra = {**(extra or {}), "encoder_finetuned": sorted(parts)}
    if refiner is not None:
        for k, v in refiner.state_dict().items():
            t = v.detach().cpu()
            tensors[_REFINER + k] = (t.half() if t.is_floating_point() else t).contiguous()
        extra = {**(extra or {}), "refiner_args": refiner.arch_args}
    if familiarity is not None:
        tensors[_FAMILIAR + "centroids"] = torch.from_numpy(familiarity.centroids).contiguous()
        tensors[_FAMILIAR + "threshold"] = torch.tensor([familiarity.threshold], dtype=torch.float32)
        if familiarity.basis is not None and familiarity.mean is not None:
            tensors[_FAMILIAR + "mean"] = torch.from_numpy(familiarity.mean.astype(np.float32))
            tensors[_FAMILIAR + "basis"] = torch.from_numpy(familiarity.basis.astype(np.float32))
            tensors[_FAMILIAR + "residual_threshold"] = torch.tensor(
                [float(familiarity.residual_threshold or 0.0)], dtype=torch.float32
            )
        extra = {**(extra or {}), "classes": familiarity.classes,
                 "familiarity_threshold": familiarity.threshold}  # fmt: skip
    st = stem.with_suffix(".safetensors")
    tmp = st.with_suffix(".tmp")
    save_file(tensors, str(tmp), metadata={"arch": ARCH, "kind": kind, "encoder": encoder})
    tmp.replace(st)
    info = {
        "name": stem.name, "architecture": ARCH, "arch_args": decoder.arch_args, "encoder": encoder,
        "kind": kind, "frame": "view", "weights_dtype": "float16",
        "input": {"shape": [None, 128, 128, 3], "dtype": "uint8",
                  "content": "object centred on a plain light background, or dark lines on white"},
        "output": {"occupancy": [VOXELS] * 3, "axes": "x, y, z (z up)",
                   "frame": "first view's yaw frame (object turned about z by minus the azimuth)",
                   "fusion": "Pix2Vox: per-view volumes turned into the first view's frame, "
                   "softmax of per-voxel scores over the views",
                   "mesh": "marching cubes of the fused probabilities at the threshold"},
        **(extra or {}),
    }  # fmt: skip
    js = stem.with_suffix(".json")
    atomic_write_bytes(js, (json.dumps(info, indent=2) + "\n").encode("utf-8"))
    return st, js


def load_encoder_blocks(encoder: nn.Module, tuned: dict[str, torch.Tensor]) -> None:
    """Replace tensors of the (folded) encoder network by the fine-tuned ``tuned`` ones
    (RuntimeError when a key is not the network's or a shape differs)."""
    net = getattr(encoder, "net", encoder)
    own = net.state_dict()
    bad = [k for k in tuned if k not in own or own[k].shape != tuned[k].shape]
    if bad:
        raise RuntimeError(f"encoder tensor {bad[0]} does not fit the encoder")
    with torch.no_grad():
        for k, v in tuned.items():
            own[k].copy_(v.float())


def load_featvox(
    info: dict[str, Any], weights: Path, kind: str, device: str = "cpu"
) -> FeatVoxReconstructor:
    """The reconstructor of a ``featvox`` sidecar ``info`` and its decoder ``weights``.

    Raises:
        ConfigError: weights that do not fit, or the encoder's weights package is missing.
    """
    from safetensors.torch import load_file

    from voxforge.nn.encoders.image import load_image_encoder

    decoder = VoxelDecoder(**check_decoder_args(dict(info.get("arch_args", {}))))
    try:
        state = {
            k: v.float() if v.is_floating_point() else v for k, v in load_file(str(weights)).items()
        }
        known = {
            k[len(_FAMILIAR) :]: state.pop(k).numpy() for k in list(state) if k.startswith(_FAMILIAR)
        }
        tuned = {k[len(_ENCODER) :]: state.pop(k) for k in list(state) if k.startswith(_ENCODER)}
        refined = {k[len(_REFINER) :]: state.pop(k) for k in list(state) if k.startswith(_REFINER)}
        decoder.load_state_dict(state)
        refiner = None
        if refined:
            refiner = VoxelRefiner(**info.get("refiner_args", {}))
            refiner.load_state_dict(refined)
        size = info.get("encoder_size")
        encoder = load_image_encoder(str(info.get("encoder", "efficientnet-lite0")),
                                     int(size) if size else None)  # fmt: skip
        if tuned:
            load_encoder_blocks(encoder, tuned)
    except (RuntimeError, OSError) as err:
        raise ConfigError(f"{weights}: weights do not fit {ARCH} ({str(err).splitlines()[0]})") from None
    rec = FeatVoxReconstructor(FeatVoxNet(encoder, decoder), kind, info,
                               float(info.get("threshold", 0.4)), device,
                               bool(info.get("flip_tta", False)))  # fmt: skip
    rec.refiner = None if refiner is None else refiner.to(device).eval()
    if known:
        rec.familiar = Familiarity(
            known["centroids"],
            float(known["threshold"].reshape(-1)[0]),
            list(info.get("classes", [])),
            known.get("mean"),
            known.get("basis"),
            float(known["residual_threshold"].reshape(-1)[0]) if "residual_threshold" in known else None,
        )
    return rec
