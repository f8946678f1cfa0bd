"""Ship a completion run: best checkpoint -> ``models/completion-unet.*`` with a model card.

The threshold and whether to average the 8 turned/mirrored inputs (test-time augmentation) are
chosen by mean IoU on the run's validation scans; the card's table is measured here, on fresh
one-view scans (seed 1) of every validation object, for the network, the mirror-symmetry baseline
and no completion.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import yaml

from voxforge.core.errors import ConfigError
from voxforge.core.progress import ProgressCallback, null_progress
from voxforge.nn.completion.dataset import load_or_build
from voxforge.nn.completion.evaluate import evaluate_completion
from voxforge.nn.completion.infer import Completer, load_checkpoint, save_completer
from voxforge.nn.completion.model import count_params
from voxforge.nn.completion.train import THRESHOLDS, CompletionTrainConfig
from voxforge.nn.metrics import iou


def ship_completion(
    run_dir: str | Path,
    stem: str | Path,
    *,
    command: str,
    trained_on: str,
    limit: int | None = None,
    progress: ProgressCallback = null_progress,
) -> dict[str, Any]:
    """Export ``run_dir/best.pt`` to ``<stem>.safetensors/.json/.md``; returns the sidecar dict."""
    run = Path(run_dir)
    if not (run / "best.pt").is_file() or not (run / "metrics.csv").is_file():
        raise ConfigError(f"{run}: not a completion run (needs best.pt and metrics.csv)")
    completer = load_checkpoint(run / "best.pt")
    step = completer.info.get("step")
    cfg = yaml.safe_load((run / "config.yaml").read_text(encoding="utf-8"))
    curve = (run / "metrics.csv").read_text(encoding="utf-8").strip()
    choice = choose_decoding(completer, CompletionTrainConfig.model_validate(cfg))
    completer.threshold, completer.tta = choice["threshold"], choice["tta"]
    threshold = completer.threshold
    report = evaluate_completion(
        cfg["data"]["path"], completer, split="val", views=1, seed=1, limit=limit, progress=progress
    )
    info = {
        "checkpoint_step": step,
        "params": count_params(completer.model),
        "validation": report,
        "training": {
            "command": command,
            "trained_on": trained_on,
            "seed": cfg.get("seed"),
            "data": cfg["data"],
            **{k: cfg.get(k) for k in _RECIPE_KEYS},
            "steps_run": _steps_run(curve),
        },
    }
    info["decoding_choice"] = choice
    st, _ = save_completer(completer.model, stem, threshold=threshold, extra=info, tta=completer.tta)
    info["size_bytes"] = st.stat().st_size
    Path(stem).with_suffix(".md").write_text(model_card(info, threshold, curve), encoding="utf-8")
    return info


_RECIPE_KEYS = (
    "schedule", "steps", "max_minutes", "batch_size", "lr", "warmup_steps", "threads", "val_samples",
    "init",
)  # fmt: skip


def _steps_run(curve: str) -> int | None:
    """The last step of a ``metrics.csv`` text (None when it has no rows)."""
    rows = curve.splitlines()[1:]
    return int(float(rows[-1].split(",")[0])) if rows else None


def schedule_text(t: dict[str, Any]) -> str:
    """How the card describes the learning-rate schedule and whether a rerun reproduces it."""
    if t.get("schedule") == "time" and t.get("max_minutes") is not None:
        return (
            f"The learning rate followed the wall clock (`schedule: time` over {t['max_minutes']} "
            "min), so a rerun on a machine under another load takes another number of steps: "
            "these weights are not reproducible."
        )
    if t.get("max_minutes") is not None and t.get("steps_run") != t.get("steps"):
        return (
            f"The run stopped on the wall clock (`max_minutes: {t['max_minutes']}`) after "
            f"{t.get('steps_run')} of {t.get('steps')} steps: these weights are not reproducible."
        )
    if t.get("steps") is None:
        return "The run's schedule is not recorded."
    return (
        f"Cosine learning rate from {t.get('lr')} over a fixed {t['steps']} steps of "
        f"{t.get('batch_size')} scans (`schedule: steps`, no wall-clock stop), "
        f"{t.get('threads')} torch thread(s): the same command and config give the same weights "
        "on the same torch build and thread count."
    )


def init_text(t: dict[str, Any]) -> str:
    """How the card describes where the weights started (a random start or an earlier stage)."""
    if not t.get("init"):
        return "The weights start from a seeded random initialisation."
    return (
        f"The weights start from `{t['init']}`, the checkpoint of an earlier stage (its own recipe "
        "in `configs/completion/`), so the learning rate warms up and decays again."
    )


def choose_decoding(completer: Completer, config: CompletionTrainConfig) -> dict[str, Any]:
    """Threshold and test-time augmentation with the best mean IoU on the run's validation scans
    (the ones the checkpoint was chosen on)."""
    data = load_or_build(config.data)
    idx = data.split(True)
    if config.val_samples is not None and config.val_samples < len(idx):
        idx = idx[np.linspace(0, len(idx) - 1, config.val_samples).round().astype(int)]
    x, y = data.batch(idx)
    scores: dict[str, float] = {}
    for tta in (False, True):
        completer.tta = tta
        p = completer.probabilities(x[:, 0], x[:, 1])
        for t in THRESHOLDS:
            scores[f"tta={tta},t={t}"] = float(iou(p, y, t).mean())
    best = max(scores, key=scores.__getitem__)
    tta_s, t_s = best.split(",")
    return {"tta": tta_s == "tta=True", "threshold": float(t_s[2:]), "scores": scores}


def results_table(report: dict[str, Any]) -> str:
    """Markdown table: network vs symmetry vs none (IoU, Chamfer-L1, Chamfer-L2, F-score)."""
    lines = ["| method | IoU | Chamfer-L1 | Chamfer-L2 | F-score@1 cell | s / shape |",
             "| --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    names = {"network": "network (completion-unet)", "symmetry": "mirror symmetry + hole filling",
             "none": "no completion (the partial scan)"}  # fmt: skip
    for key, m in report["methods"].items():
        lines.append(
            f"| {names.get(key, key)} | {m['iou']:.4f} | {m['chamfer_l1']:.4f} | "
            f"{m['chamfer_l2']:.5f} | {m['fscore']:.4f} | {m['seconds_per_shape']:.3f} |"
        )
    return "\n".join(lines)


def class_table(report: dict[str, Any]) -> str:
    """Markdown table of the IoU per class and method."""
    per = report["per_class_iou"]
    methods = list(per)
    lines = ["| class | " + " | ".join(methods) + " |", "| --- |" + " --- |" * len(methods)]
    for cls in per[methods[0]]:
        lines.append(f"| {cls} | " + " | ".join(f"{per[m][cls]:.3f}" for m in methods) + " |")
    return "\n".join(lines)


def tta_text(info: dict[str, Any]) -> str:
    """How the card describes the test-time augmentation choice."""
    if info.get("decoding_choice", {}).get("tta"):
        return ", averaging the network's output over the 8 quarter-turn x mirror versions of the input"
    return ""


def _met(ok: bool) -> str:
    return "met" if ok else "not met"


def _net(v: dict[str, Any]) -> float:
    return float(v["methods"]["network"]["iou"])


def _gain(v: dict[str, Any]) -> float:
    return _net(v) - float(v["methods"]["symmetry"]["iou"])


def decoding_text(info: dict[str, Any]) -> str:
    """The decoding choices and their validation IoU, one phrase each."""
    scores = info.get("decoding_choice", {}).get("scores", {})
    return "; ".join(
        f"{'with' if 'True' in k else 'without'} test-time augmentation at {k.split('t=')[-1]}: {v:.4f}"
        for k, v in scores.items()
    )


def model_card(info: dict[str, Any], threshold: float, curve: str) -> str:
    """The model card (``models/completion-unet.md``)."""
    v = info["validation"]
    t = info["training"]
    d = t["data"]
    n_sel = t.get("val_samples") or "all"
    return f"""# completion-unet

Completes a one-sided scan on a 32³ grid: a 3D U-Net, {info["params"]:,} parameters,
{info["size_bytes"] / 1e6:.2f} MB of float32 weights (safetensors).

## Input contract
(N, 2, 32, 32, 32) float32: channel 0 the partial occupancy (cells holding a scan return),
channel 1 the known-empty mask (cells the camera rays crossed before their return, as in 3D-EPN);
axes x, y, z (z up), the object scaled to at most 30 cells and centred (the ModelNet voxel
convention). Output: occupancy logits of the complete shape; a cell is filled at probability >=
{threshold}{tta_text(info)} (chosen on validation IoU). `voxforge complete` and
`brickify --complete` build the input from a real scan: view directions from the surface
normals, known-empty space carved along them (see `voxforge.nn.completion.apply`).

## Data
Simulated phone scans (`voxforge.nn.completion.sim`: a voxel-space pinhole depth camera, depth
noise growing with the squared distance, random and grazing-angle drop-outs) of the shared
ModelNet10 training shapes (`{d["path"]}`, 3,991 shapes, 30³ padded to 32³). Training objects:
{d["scans_per_object"]} scans each of 1 to {d["max_views"]} views from one side (azimuths within
±35° of the first, elevation 0-45°), seed {d["seed"]}; quarter turns about z and x mirroring as
augmentation. Objects are split by the classifier's stratified split ({d["val_fraction"]:.0%},
seed {d["split_seed"]}): no object has scans on both sides. The official ModelNet10 test split
was not used.

## Validation metrics
{v["shapes"]} validation objects, one fresh scan each from **one side view** (seed {v["seed"]},
not the scans the checkpoint was chosen on). IoU at 32³; Chamfer between the grids' surface
cells in unit-cube units; F-score at one cell (`voxforge.nn.metrics`).

{results_table(v)}

Decoding chosen on the run's {n_sel} validation scans (mean IoU): {decoding_text(info)}.

IoU per class:

{class_table(v)}

## Targets
| target | measured |
| --- | --- |
| IoU >= 0.80 from one side view | {_net(v):.3f} ({_met(_net(v) >= 0.80)}) |
| above the symmetry baseline by >= 0.05 | {_gain(v):+.3f} ({_met(_gain(v) >= 0.05)}) |

Reproduce: `voxforge evaluate completion --data {d["path"]} --split val --json`.

## Training
{t["trained_on"]}; seed {t["seed"]}; checkpoint of step {info["checkpoint_step"]} of
{t.get("steps_run")} (best IoU at 0.4 on {n_sel} of the validation scans). {init_text(t)}
{schedule_text(t)}
Command:

    {t["command"]}

Learning curve (`metrics.csv`; IoU on {n_sel} validation scans):

```
{curve}
```

## Limitations
Trained on 10 furniture classes at 32³ and on simulated scans only; the real-scan path estimates
the camera directions from normals and the object's depth from its width, so a real scan of an
object much deeper than wide is squeezed. Thin parts (chair legs, table legs) seen from one side
are the hardest. The CPU budget was small, so the network is under-trained.
"""
