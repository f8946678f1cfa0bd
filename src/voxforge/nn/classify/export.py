"""Ship a trained classifier: checkpoint -> safetensors + JSON, ONNX, Core ML.

The phone app runs models on the device, hence ONNX (checked against onnxruntime) and Core ML.
Exports take the single-view network (voting = run it on the rotated copies, as
:meth:`Classifier.predict_proba` does); the batch dimension stays dynamic in ONNX. A calibrated
model's temperature and unknown-shape threshold stay in its JSON sidecar (``calibration``): an app
averages the views' logits, divides them by the temperature and applies the threshold.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from voxforge.core.errors import ConfigError
from voxforge.nn.classify.grouping import GROUP_IOU
from voxforge.nn.classify.inference import Classifier, save_classifier
from voxforge.nn.classify.models import create_model
from voxforge.nn.datasets import GRID, ClassifierData
from voxforge.nn.weights import coremltools_module

log = logging.getLogger(__name__)


def export_checkpoint(
    checkpoint: str | Path, stem: str | Path, extra: dict[str, Any] | None = None
) -> tuple[Path, Path]:
    """Turn a training checkpoint (``best.pt``) into ``<stem>.safetensors`` + ``<stem>.json``."""
    path = Path(checkpoint)
    if not path.is_file():
        raise ConfigError(f"{path}: no such checkpoint")
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    meta = ckpt["meta"]
    model = create_model(meta["arch"], **meta["arch_args"])
    model.load_state_dict(ckpt["model"])
    info = {"checkpoint_epoch": int(ckpt["epoch"]), "params": int(meta["params"]), **(extra or {})}
    return save_classifier(
        model, stem, classes=meta["classes"], input_kind=meta["input_kind"], extra=info
    )


def example_input(clf: Classifier, batch: int = 2, seed: int = 0) -> torch.Tensor:
    """A random batch in the model's input contract (for tracing and checks)."""
    rng = np.random.default_rng(seed)
    if clf.input_kind == "voxels":
        return torch.from_numpy((rng.random((batch, 1, GRID, GRID, GRID)) < 0.1).astype(np.float32))
    pts = rng.normal(size=(batch, 1024, 3)).astype(np.float32)
    return torch.from_numpy(pts / np.abs(pts).max())


def export_onnx(clf: Classifier, path: str | Path, *, opset: int = 17) -> Path:
    """Write the network as ONNX with a dynamic batch axis (input ``input``, output ``logits``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    clf.model.eval()
    x = example_input(clf)
    torch.onnx.export(
        clf.model,
        (x,),
        str(path),
        input_names=["input"],
        output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
        opset_version=opset,
        dynamo=False,
    )
    return path


def check_onnx(clf: Classifier, path: str | Path, x: np.ndarray) -> dict[str, float]:
    """Run ``x`` through onnxruntime and torch; return the largest logit difference and the share
    of identical predicted classes (1.0 expected)."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"input": x.astype(np.float32)})[0]
    with torch.no_grad():
        ref = clf.model(torch.from_numpy(x.astype(np.float32))).numpy()
    return {
        "max_abs_diff": float(np.abs(got - ref).max()),
        "same_prediction": float((got.argmax(1) == ref.argmax(1)).mean()),
    }


def export_coreml(clf: Classifier, path: str | Path) -> Path:
    """Convert to a Core ML ``.mlpackage`` (ML program) with coremltools.

    Conversion runs anywhere; running the converted model needs macOS (Core ML framework).

    Raises:
        UnsupportedInputError: coremltools is not installed.
    """
    ct = coremltools_module()
    clf.model.eval()
    x = example_input(clf, batch=1)
    traced = torch.jit.trace(clf.model, x)
    mlmodel = ct.convert(
        traced,
        inputs=[ct.TensorType(name="input", shape=tuple(x.shape))],
        outputs=[ct.TensorType(name="logits")],
        convert_to="mlprogram",
        minimum_deployment_target=ct.target.iOS16,
    )
    mlmodel.short_description = f"voxforge {clf.info.get('name', '')}: {', '.join(clf.classes)}"
    path = Path(path)
    mlmodel.save(str(path))
    return path


def ship_provenance(
    run_dir: str | Path,
    stem: str | Path,
    what: str,
    *,
    command: str | None = None,
    trained_on: str | None = None,
) -> tuple[str, str]:
    """(training command, machine) for the card of ``run_dir``'s best checkpoint shipped as
    ``stem``: as given, else what the card already shipped there says (re-shipping a model, to
    refresh its metrics, keeps its training provenance), else the run's own ``voxforge train
    <what>`` command and ``"CPU"``.

    Raises:
        ConfigError: the run has no ``best.pt`` (it is not a finished ``what`` run).
    """
    run_dir = Path(run_dir)
    if not (run_dir / "best.pt").is_file():
        raise ConfigError(f"{run_dir}: no best.pt (not a finished {what} run)")
    old = Path(stem).with_suffix(".json")
    kept = json.loads(old.read_text()).get("training", {}) if old.is_file() else {}
    cmd = command or kept.get("command") or f"voxforge train {what} --config {run_dir / 'config.yaml'}"
    return cmd, trained_on or kept.get("trained_on") or "CPU"


def validation_and_latency(
    clf: Classifier, val: ClassifierData, latency_shapes: int = 64
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The card's validation block (1, 4 and 12 views) and latency block for ``clf`` on ``val``.

    Latency is measured with ``torch.get_num_threads()`` threads, one shape per call, best of 3
    runs (other jobs on the machine only ever slow it down).
    """
    import platform

    from voxforge.nn.classify.evaluate import measure_latency, validation_report

    report = validation_report(clf, val)
    x = val.voxels if clf.input_kind == "voxels" else val.points
    assert x is not None
    n = min(latency_shapes, len(x))
    lat: dict[str, Any] = {
        f"views_{v}_ms_per_shape": round(measure_latency(clf, x[:n], views=v, repeats=3), 2)
        for v in (1, 4, 12)
    }
    lat["views_12_batched32_ms_per_shape"] = round(
        measure_latency(clf, x[:n], views=12, batch_size=32, repeats=3), 2
    )
    lat.update(threads=torch.get_num_threads(), shapes=n, cpu=platform.processor() or platform.machine())
    return report, lat


def ship_classifier(
    run_dir: str | Path,
    stem: str | Path,
    *,
    command: str,
    trained_on: str,
    voting_views: int = 4,
    latency_shapes: int = 64,
) -> dict[str, Any]:
    """Export a run's ``best.pt`` as a shipped model with validation metrics and a model card.

    Validation metrics come from the run's own split (its ``config.yaml``); latency is measured
    here with ``torch.get_num_threads()`` threads, one shape per call, best of 3 runs (other
    jobs on the machine only ever slow it down). ``voting_views`` is the
    default voting of the shipped model (4 = exact 90° rotations, a third of the cost of 12).

    Returns:
        The JSON sidecar's content.
    """
    import json

    import yaml

    from voxforge.nn.classify.inference import load_classifier
    from voxforge.nn.classify.train import ClassifierTrainConfig, prepare_data

    run = Path(run_dir)
    cfg = ClassifierTrainConfig.model_validate(yaml.safe_load((run / "config.yaml").read_text()))
    prep = prepare_data(cfg)
    st, js = export_checkpoint(run / "best.pt", stem)
    clf = load_classifier(js)
    val, lat = validation_and_latency(clf, prep.val, latency_shapes)
    rows = (run / "metrics.csv").read_text().splitlines()
    info = json.loads(js.read_text())
    info.update(
        voting_views=voting_views,
        validation=val,
        latency=lat,
        training={"command": command, "trained_on": trained_on, "seed": cfg.seed,
                  "config": cfg.model_dump(mode="json"), "epochs_run": len(rows) - 1,
                  "data": cfg.data.path, "split": {"val_fraction": cfg.data.val_fraction,
                  "split_seed": cfg.data.split_seed, "train": len(prep.train), "val": len(prep.val),
                  **({"grouped": True, "group_iou": cfg.data.group_iou}
                     if cfg.data.group_iou is not None else {})}},
        size_bytes=st.stat().st_size,
    )  # fmt: skip
    js.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    Path(stem).with_suffix(".md").write_text(model_card(info), encoding="utf-8")
    return info


def model_card(info: dict[str, Any]) -> str:
    """The Markdown model card of a shipped classifier from its JSON sidecar."""
    import json

    v, lat, tr = info["validation"], info["latency"], info["training"]
    votes = "\n".join(
        f"| {k.split('_')[1]} | {m['accuracy']:.4f} | {m['macro_f1']:.4f} |"
        for k, m in v.items()
        if k.startswith("views_")
    )
    per = "\n".join(
        f"| {c} | {r['precision']:.3f} | {r['recall']:.3f} | {r['f1']:.3f} | {r['support']} |"
        for c, r in v["per_class"].items()
    )
    return f"""# {info["name"]}

A {info["architecture"]} shape classifier for the 10 ModelNet10 classes ({", ".join(info["labels"])}),
{info["params"]:,} parameters, {info["size_bytes"] / 1e6:.2f} MB of float32 weights (safetensors).

## Input contract
{json.dumps(info["input"])}. Inputs from meshes, scans and voxel files are put on this grid by
`voxforge.nn.classify.inference.object_to_grid` (voxforge's cubic voxelizer, longest side 24 cells,
centred).
Prediction averages the {"logits" if info.get("calibration") else "softmax"} over {
        info["voting_views"]
    } rotations about z
({360 // info["voting_views"]}° steps; `--views` changes it){
        ", then divides the logits by the temperature below" if info.get("calibration") else ""
    }.

## Data
Shared ModelNet10 training split (`{tr["data"]}`, binvox 30³ padded to 32³; Princeton ModelNet,
academic use). Stratified validation split: {tr["split"]["val_fraction"]:.0%} per class, seed
{tr["split"]["split_seed"]} ({tr["split"]["train"]} train / {tr["split"]["val"]} validation shapes).
{_selection_text(info)}; the official ModelNet10 test split was not used for anything.

## Validation metrics (validation split, not the test set)
| voting views | accuracy | macro F1 |
| --- | --- | --- |
{votes}

Per class with 12 views:

| class | precision | recall | F1 | support |
| --- | --- | --- | --- | --- |
{per}

## Latency
{lat["threads"]} CPU threads ({lat["cpu"]}), one shape per call: {lat["views_1_ms_per_shape"]} ms
(1 view), {lat["views_4_ms_per_shape"]} ms (4 views), {lat["views_12_ms_per_shape"]} ms (12 views);
{lat["views_12_batched32_ms_per_shape"]} ms per shape with 12 views in batches of 32.
Best of 3 runs over {lat.get("shapes", "the first 64")} validation shapes, measured when the model was
shipped (`voxforge train ship-classifier` or `ensemble-classifier`); `benchmarks/bench_classifier.py`
re-measures.{_recheck(lat)}

## Training
{_training_section(info)}

{_grouped_section(info)}{_open_set_section(info)}## Limitations
{_limitations(info)}
"""


def _selection_text(info: dict[str, Any]) -> str:
    if info.get("members"):
        return (
            "Each member is a shipped classifier whose checkpoint was chosen on validation accuracy "
            "(`voxforge train ship-classifier` ships a run's best.pt; members: see Training), the "
            "same split for all members"
        )
    tr = info["training"]
    return (
        f"The checkpoint (epoch {info['checkpoint_epoch']} of {tr['epochs_run']}) was chosen on "
        "validation accuracy"
    )


def _training_section(info: dict[str, Any]) -> str:
    """How the weights were trained: the run's command and config, or each ensemble member's."""
    import yaml

    def one(tr: dict[str, Any]) -> str:
        cfg_yaml = yaml.safe_dump(tr["config"], sort_keys=False).strip()
        return (
            f"Trained on: {tr['trained_on']}. Seed {tr['seed']}. Command:\n\n    {tr['command']}"
            f"\n\nResolved config:\n\n```yaml\n{cfg_yaml}\n```"
        )

    members = info.get("members")
    if not members:
        return one(info["training"])
    parts = [
        f"An ensemble of {len(members)} networks (`voxforge train ensemble-classifier`): the output "
        "is the mean of the members' log-probabilities, each member's logits divided by its own "
        f"temperature ({info.get('ensemble_temperatures_fitted_on', 'held-out shapes')})."
    ]
    for m in members:
        parts.append(f"### Member {m['name']} (temperature {m['temperature']})\n{one(m['training'])}")
    return "\n\n".join(parts)


_NOTES = ("members", "selection", "retrained", "multiview", "distilled", "seeds", "recipes")
"""Free-text paragraphs under ``grouped_validation`` that the card prints after the table."""


def _grouped_section(info: dict[str, Any]) -> str:
    """The card's unseen-object estimate (``grouped_validation`` in the JSON), or nothing."""
    g = info.get("grouped_validation")
    if not g:
        return ""
    p, u = g["protocol"], g["unseen"]
    rows = "\n".join(
        f"| {c} | {g['recall'][c]:.3f} | {u['recall'][c]:.3f} | {u['support'][c]} |"
        for c in info["labels"]
    )
    return f"""## Unseen objects (grouped protocol)
The random validation split above flatters the model: ModelNet's training objects of one class are
often near-copies of each other, so most validation shapes have a near-duplicate in training.
Grouped protocol (`voxforge evaluate classifier --grouped`): {p["grouping"]} ({p["groups"]} groups
over the {p["train"] + p["val"]} shapes); a class-stratified split of whole groups,
{p["val_fraction"]:.0%} per class, seed {p["split_seed"]} ({p["val"]} validation shapes).

This model was trained on the random split, so {p["val_seen_by_model"]} of those {p["val"]} grouped
validation shapes were in its training data or had a near-duplicate there: its accuracy on them,
{g["accuracy"]:.4f} (macro F1 {g["macro_f1"]:.4f}, {g["views"]} views), is leaky. The honest
estimate uses the {u["samples"]} shapes of its own validation split none of whose near-duplicates it
trained on: **accuracy {u["accuracy"]:.4f}, 95% interval {u["ci95"][0]:.4f}-{u["ci95"][1]:.4f}**
(bootstrap over groups), macro F1 {u["macro_f1"]:.4f}.{_remeshed_text(u)}

| class | recall, grouped split (leaky) | recall, never-seen objects | never-seen support |
| --- | --- | --- | --- |
{rows}
{"".join(chr(10) + g[k] + chr(10) for k in _NOTES if g.get(k))}
"""


def _remeshed_text(u: dict[str, Any]) -> str:
    """The never-seen estimate as meshes and scans arrive (``evaluate --grouped --remeshed N
    --scanned M``), or nothing."""
    text = ""
    r = u.get("remeshed")
    if r:
        text += (
            f" The same shapes as meshes reach the classifier (`--remeshed {r['copies']}`: "
            f"each voxelized from its smooth surface at {r['copies']} random yaws, scored by the "
            f"share of its copies named right): **accuracy {r['accuracy']:.4f}, 95% interval "
            f"{r['ci95'][0]:.4f}-{r['ci95'][1]:.4f}**, {r.get('unknown_rate', 0):.1%} called unknown."
        )
    r = u.get("scanned")
    if r:
        text += (
            f" As one-sided phone scans (`--scanned {r['copies']}`: {r['copies']} simulated scans "
            f"of each from one to three cameras on one side, the points voxelized at a random "
            f"yaw): **accuracy {r['accuracy']:.4f}, 95% interval {r['ci95'][0]:.4f}-"
            f"{r['ci95'][1]:.4f}**, {r.get('unknown_rate', 0):.1%} called unknown."
        )
    return text


def _open_set_section(info: dict[str, Any]) -> str:
    """The card's calibration and unknown-shape rule (``calibration`` in the JSON), or nothing."""
    c = info.get("calibration")
    if not c:
        return ""
    checks = info.get("open_set_check", {})
    lines = "\n".join(
        f"| {name} | {r['label']} | {r['top']} {r['probability']:.2f} |" for name, r in checks.items()
    )
    table = (
        "\n\nNon-furniture meshes from `shared/data/meshes` (`voxforge classify FILE --json`):\n\n"
        "| mesh | answer | top class, calibrated probability |\n| --- | --- | --- |\n" + lines
        if checks
        else ""
    )
    return f"""## Calibration and unknown shapes
Temperature scaling and the unknown-shape threshold (`voxforge train calibrate-classifier`) are
fitted on {c["fitted_on"]}, with {c["views"]} views: temperature {c["temperature"]:.4f} (NLL
{c["nll_before"]} unscaled, {c["nll_after"]} scaled); the answer is `unknown` when {_rule_text(c)}, which
{c["unknown_rate"]:.1%} of those shapes are{_as_meshes(c)} (at most {c["max_unknown_rate"]:.0%} by
construction).{_unknown_rates(info)}{table}{chr(10) * 2 + c["selection"] if c.get("selection") else ""}

"""


def _as_meshes(c: dict[str, Any]) -> str:
    forms = [f"{c[f'unknown_rate_{k}']:.1%} given as {name}"
             for k, name in (("remeshed", "meshes"), ("scanned", "one-sided scans"))
             if f"unknown_rate_{k}" in c]  # fmt: skip
    if not forms:
        return ""
    return f" as binvox grids and {' and '.join(forms)}, each form"


def _rule_text(c: dict[str, Any]) -> str:
    """How the card states the unknown-shape rule of a ``calibration`` block."""
    if c["score"] == "max_probability":
        return f"the calibrated max probability is below {c['threshold']:.4f}"
    if c["score"] == "energy":
        return f"the energy score is above {c['threshold']:.4f}"
    f = c.get("outlier_head_fitted_on", {})
    meshes = f.get("meshes") or {}
    extra = f" and {meshes['count']} meshes from `{meshes['folder']}`" if meshes else ""
    kinds = f.get("synthetic_kinds")
    what = f"shapes ({', '.join(kinds)})" if kinds else "rounded blobs"
    desc = (
        f" and {f['descriptors']} shape descriptors of the input (`shape_descriptors`: flat "
        "panels, legs on the floor, symmetry, proportions)"
        if f.get("descriptors")
        else ""
    )
    return (
        f"the outlier head's score is above {c['threshold']:.4f} (a logistic regression on the "
        f"network's pooled features{desc}, C = {f.get('c')}, fitted by outlier exposure: "
        f"{f.get('inliers', 'the training shapes')} against {f.get('synthetic_blobs')} synthetic "
        f"{what}{extra}; `voxforge.nn.classify.outliers`)"
    )


def _recheck(lat: dict[str, Any]) -> str:
    return f"\nRe-measured: {lat['rechecked']}." if lat.get("rechecked") else ""


def _unknown_rates(info: dict[str, Any]) -> str:
    g = info.get("grouped_validation")
    if not g or "unknown_rate" not in g:
        return ""
    return (
        f" On the grouped validation split {g['unknown_rate']:.1%} of shapes are called unknown; "
        f"on the never-seen objects {g['unseen'].get('unknown_rate', 0):.1%}."
    )


def _limitations(info: dict[str, Any]) -> str:
    base = (
        "Objects must be upright (z up); yaw is free. Desk/table and night_stand/dresser are the "
        "usual confusions."
    )
    if info.get("calibration", {}).get("score") == "outlier":
        return (
            "Furniture-only classes. The unknown-shape rule knows non-furniture only from the "
            "synthetic blobs and meshes it was fitted on: a compact object that looks like a piece "
            "of furniture at 32³ (see the table above) can still get a furniture class. " + base
        )
    if info.get("calibration"):
        return (
            "Furniture-only classes. The unknown-shape rule only catches inputs the network itself is "
            "unsure about: a compact non-furniture object that looks like a piece of furniture at 32³ "
            "(see the table above) still gets a confident furniture class. " + base
        )
    return (
        "Furniture-only classes: anything else still gets probabilities over these 10 (the CLI flags "
        "a top probability under 50 %). " + base
    )


def ship_ensemble(
    members: list[str | Path],
    stem: str | Path,
    *,
    data_path: str | Path,
    views: int = 4,
    group_iou: float = GROUP_IOU,
) -> dict[str, Any]:
    """Combine shipped voxel classifiers into one ``voxensemble`` model at ``stem``.

    Every member must record the same training split of ``data_path`` in its JSON, so the shapes
    held out from one are held out from all. Each member's temperature is fitted on those held-out
    shapes none of whose near-duplicates the members trained on (as ``calibrate-classifier``
    does); the ensemble averages the members' calibrated log-probabilities. The JSON keeps the
    members' training records and the shared split; calibrate the ensemble afterwards for its
    own temperature and unknown-shape rule.

    Raises:
        ConfigError: fewer than 2 members, members of other kinds, classes or training splits.
    """
    from voxforge.nn.classify.calibration import fit_temperature
    from voxforge.nn.classify.evaluate import heldout_unseen
    from voxforge.nn.classify.grouping import group_shapes
    from voxforge.nn.classify.inference import load_classifier
    from voxforge.nn.datasets import load_voxel_set, stratified_split

    if len(members) < 2:
        raise ConfigError(f"an ensemble needs at least 2 members, got {len(members)}")
    clfs = [load_classifier(m) for m in members]
    first = clfs[0]
    split = first.info.get("training", {}).get("split")
    for m, c in zip(members, clfs, strict=True):
        if c.input_kind != "voxels" or c.classes != first.classes:
            raise ConfigError(f"{m}: ensemble members must be voxel models with the same classes")
        if c.info.get("training", {}).get("split") != split or not split:
            raise ConfigError(f"{m}: ensemble members must record the same training split")
    data = load_voxel_set(data_path)
    groups = group_shapes(data.voxels, data.labels, group_iou)
    held = heldout_unseen(first.info, data.labels, groups)
    if held is None or len(held) < 20:
        raise ConfigError(f"{members[0]}: its training split does not match {data_path}")
    temps = [
        fit_temperature(c.predict_logits(data.voxels[held], views=views), data.labels[held])
        for c in clfs
    ]
    specs = [{"architecture": c.info["architecture"], "arch_args": c.info["arch_args"]} for c in clfs]
    model = create_model("voxensemble", num_classes=len(first.classes), members=specs,
                         temperatures=temps)  # fmt: skip
    for net, c in zip(model.members, clfs, strict=True):  # type: ignore[arg-type]
        net.load_state_dict(c.model.state_dict())
    info = {
        "params": sum(int(p.numel()) for p in model.parameters()),
        "members": [{"name": c.info.get("name"), "temperature": round(t, 4),
                     "training": c.info.get("training")} for c, t in zip(clfs, temps, strict=True)],
        "training": {"split": split, "data": first.info["training"].get("data")},
        "ensemble_temperatures_fitted_on": f"{len(held)} held-out shapes, {views} views",
    }  # fmt: skip
    st, js = save_classifier(model, stem, classes=first.classes, input_kind="voxels", extra=info)
    val_index = stratified_split(data.labels, float(split["val_fraction"]), int(split["split_seed"]))[1]
    validation, latency = validation_and_latency(load_classifier(js), data.subset(val_index))
    out = json.loads(js.read_text(encoding="utf-8"))
    out.update(voting_views=views, size_bytes=st.stat().st_size, validation=validation,
               latency=latency)  # fmt: skip
    js.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    Path(stem).with_suffix(".md").write_text(model_card(out), encoding="utf-8")
    return out
