"""The classify job: any input -> clean-up (scans) -> shipped classifier -> classification + preview.

The preview shows exactly what the network saw (its 32³ input grid) with the top class written
under it, so a surprising answer can be explained by looking at the picture.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from voxforge.core.config import dump_config
from voxforge.core.outputs import OutputDir
from voxforge.core.progress import Progress, ProgressCallback
from voxforge.pipelines.common import (
    InputConfig,
    Timer,
    check_single_units,
    clean_if_scan,
    describe,
    read_input,
)
from voxforge.scan import CleanConfig

STAGES = {"read": 1, "clean": 2, "classify": 4, "render": 1, "write": 1}


class ClassifyConfig(BaseModel):
    """Options of the classify job; loadable from YAML."""

    model_config = ConfigDict(extra="forbid")

    input: InputConfig = Field(default_factory=InputConfig)
    clean: CleanConfig = Field(default_factory=CleanConfig)
    model: str = Field(
        "classifier-voxel",
        pattern=r"^[A-Za-z0-9_.-]+$",
        description="Shipped model name (models/<name>.safetensors); names only, no paths.",
    )
    top: int = Field(3, ge=1, le=10, description="How many classes to report, best first.")
    views: int | None = Field(
        None, ge=1, le=36, description="Rotation-voting views; default: the model's own."
    )
    preview_size: int = Field(512, ge=64, le=4096, description="Preview PNG size in pixels.")

    @model_validator(mode="after")
    def _one_unit_knob(self) -> ClassifyConfig:
        check_single_units(self.input, self.clean)
        return self


@dataclass
class ClassifyResult:
    classification: dict[str, Any]
    out_dir: Path


def run_classify(
    input_path: str | Path,
    out_dir: str | Path,
    config: ClassifyConfig | None = None,
    progress: ProgressCallback | None = None,
) -> ClassifyResult:
    """Name the object in ``input_path`` and write ``classification.json``, ``preview.png`` and
    ``config.yaml`` (listed in ``manifest.json``) to ``out_dir`` atomically.

    ``classification.json``: ``{"source", "model", "label", "top": [{"class", "probability"}],
    "unknown", "low_confidence", "open_set" (calibrated models), "input": {...what was read...},
    "timings_s"}``; ``label`` is ``"unknown"`` when the model's open-set rule rejects the input.
    """
    config = config or ClassifyConfig()
    prog = Progress(progress, STAGES)
    timer = Timer()
    input_path = Path(input_path)

    prog("read", 0.0)
    with timer("read"):
        obj = read_input(input_path, config.input)
    info = describe(obj)
    prog("clean", 0.0)
    with timer("clean"):
        obj, clean_report = clean_if_scan(obj, config.input, config.clean, prog.sub("clean"))
    prog("classify", 0.0)
    with timer("classify"):
        from voxforge.nn.classify.inference import classify_object, load_classifier, object_to_grid

        clf = load_classifier(config.model)
        result = classify_object(obj, clf, k=config.top, views=config.views)
        seen = object_to_grid(obj)
    result.source = input_path.name
    prog("render", 0.0)
    with timer("render"):
        image = classification_preview(seen, result.top, config.preview_size, unknown=result.unknown)
    data = {**result.to_dict(), "input": info, "clean": clean_report, "timings_s": timer.timings}

    prog("write", 0.0)
    with OutputDir(out_dir, extra={"job": "classify", "input": input_path.name}) as od:
        od.path("classification.json").write_text(json.dumps(data, indent=2, default=str) + "\n")
        od.add("classification.json", "top classes with probabilities")
        from PIL import Image

        Image.fromarray(image).save(od.path("preview.png"))
        od.add("preview.png", "the classifier's 32³ input grid, labelled with the top class")
        od.path("config.yaml").write_text(dump_config(config))
        od.add("config.yaml", "resolved configuration")
    prog("write", 1.0)
    return ClassifyResult(classification=data, out_dir=Path(out_dir))


def classification_preview(
    grid: np.ndarray, top: list[tuple[str, float]], size: int, *, unknown: bool = False
) -> np.ndarray:
    """(size, size, 3) uint8: the (32, 32, 32) occupancy rendered isometric, a caption below.

    The caption band takes the bottom eighth of the image: ``chair 93%`` (and the runner-up), or
    ``unknown (toilet 41%)`` when the model's open-set rule rejects the input.
    """
    from PIL import Image, ImageDraw, ImageFont

    from voxforge.core.voxelgrid import VoxelGrid
    from voxforge.render.voxels import render_voxels

    band = max(24, size // 8)
    vox = VoxelGrid(occupancy=np.asarray(grid) > 0, pitch=np.full(3, 1.0 / 32))
    render = render_voxels(vox, size=(size, size - band))[..., :3]
    canvas = Image.new("RGB", (size, size), (255, 255, 255))
    canvas.paste(Image.fromarray(render), (0, 0))
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=max(12, band // 2))
    caption = "   ".join(f"{name} {p:.0%}" for name, p in top[:2])
    if unknown:
        caption = f"unknown ({top[0][0]} {top[0][1]:.0%})"
    draw.text((size // 2, size - band // 2), caption, fill=(20, 20, 20), font=font, anchor="mm")
    return np.asarray(canvas)
