"""``voxforge generate PROMPT -o OUT``, ``voxforge evaluate generation``, ``voxforge train generator``.

Thin: parse flags into configs, call :mod:`voxforge.nn.generate` / :mod:`voxforge.pipelines.generate`,
print where the results are; the library is imported inside the commands so ``--help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from voxforge.cli.app import guarded
from voxforge.cli.progress import progress_bar


def generate_cmd(
    prompt: Annotated[str, typer.Argument(help='What to make, e.g. "a low wide sofa".')],
    output: Annotated[Path, typer.Option("-o", "--output", help="Output folder (written atomically).")],
    variations: Annotated[
        int | None,
        typer.Option("--variations", "-n", help="Different shapes to make (1-16).", show_default="4"),
    ] = None,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Seed (same seed, same shapes).", show_default="0")
    ] = None,
    guidance: Annotated[
        float | None,
        typer.Option(
            "--guidance",
            help="Higher follows the prompt more closely, lower gives more variety.",
            show_default="the model's",
        ),
    ] = None,
    image: Annotated[
        Path | None,
        typer.Option(
            "--image",
            help="A photo of one object: the shapes start from its reconstruction and follow "
            "the prompt.",
        ),
    ] = None,
    image_strength: Annotated[
        float | None,
        typer.Option(
            "--image-strength",
            help="With --image: lower keeps more of the picture, 1 ignores it.",
            show_default="0.6",
        ),
    ] = None,
    as_: Annotated[
        str | None,
        typer.Option("--as", help="mesh (smooth, default) | voxels (blocky) | points (+ PLY points)."),
    ] = None,
    brickify: Annotated[
        bool, typer.Option("--brickify", help="Build each variation in bricks (vK/bricks/).")
    ] = False,
    stud_budget: Annotated[
        int | None,
        typer.Option(
            "--stud-budget", help="Longest side of each brick model, studs.", min=1, show_default="32"
        ),
    ] = None,
    height_cm: Annotated[
        float | None, typer.Option("--height-cm", help="Height of the meshes, cm.", show_default="20")
    ] = None,
    weights: Annotated[
        Path | None, typer.Option("--weights", help="Generator weights (.safetensors stem).")
    ] = None,
    config: Annotated[Path | None, typer.Option("--config", help="YAML config (flags win).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Make 3D models (LEGO models with --brickify) from a sentence: OBJ, STL, GLB, voxels, previews."""

    def run() -> None:
        from voxforge.core.config import build_config, load_config
        from voxforge.pipelines.generate import GenerateConfig, run_generate

        flags: dict[str, object] = {"brickify": True} if brickify else {}
        for key, value in (
            ("variations", variations),
            ("seed", seed),
            ("guidance", guidance),
            ("image_strength", image_strength),
            ("output", as_),
            ("stud_budget", stud_budget),
            ("height_cm", height_cm),
            ("weights", None if weights is None else str(weights)),
        ):
            if value is not None:
                flags[key] = value
        cfg = (
            load_config(GenerateConfig, config, flags) if config else build_config(GenerateConfig, flags)
        )
        with progress_bar(not quiet) as cb:
            s = run_generate(prompt, output, cfg, progress=cb, image=image)
        if s["note"]:
            typer.echo(f"note: {s['note']}", err=True)
        typer.echo(
            f"{len(s['variations'])} {s['class'].replace('_', ' ')} shape(s) for {s['prompt']!r} "
            f"({s['generate_s_per_shape']:.2f} s per shape) -> {output}/v1..v{len(s['variations'])}/ "
            "(voxels.npz, model.obj/.stl/.glb, preview.png), variations.png"
        )
        for v in s["variations"]:
            b = v.get("bricks")
            if b:
                studs = "x".join(str(x) for x in (b.get("size") or {}).get("studs", []))
                typer.echo(
                    f"  {v['folder']}bricks/: {b['parts']} parts, {studs} studs, {b['stability']}"
                )

    guarded(run)


def evaluate_generation_cmd(
    data: Annotated[Path, typer.Option("--data", help="The shared voxel set npz.")] = Path(
        "../shared/data/modelnet10_vox30_train.npz"
    ),
    weights: Annotated[str | None, typer.Option("--weights", help="Generator weights (stem).")] = None,
    classifier: Annotated[
        str, typer.Option("--classifier", help="Shipped classifier that judges the class.")
    ] = "classifier-voxel",
    variations: Annotated[
        int, typer.Option("--variations", help="Shapes per prompt.", min=2, max=16)
    ] = 4,
    per_class: Annotated[
        int, typer.Option("--per-class", help="Held-back class prompts per class.", min=1)
    ] = 6,
    guidance: Annotated[
        float | None,
        typer.Option("--guidance", help="Guidance scale.", show_default="the model's"),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of prompts and variations.")] = 0,
    phrasings: Annotated[
        str,
        typer.Option(
            "--phrasings",
            help="'eval': held-back templates and words (the reported numbers); 'train': the "
            "training phrasings (validation, for choosing checkpoints and guidance).",
        ),
    ] = "eval",
    as_json: Annotated[bool, typer.Option("--json", help="Print the full report as JSON.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Class agreement, attribute adherence, diversity, novelty and timing of text-to-shape, beside
    the nearest-caption retrieval baseline, on held-back prompt phrasings."""

    def run() -> None:
        import json

        from voxforge.core.errors import ConfigError, InputFormatError
        from voxforge.nn.classify.inference import load_classifier
        from voxforge.nn.generate.evaluate import evaluate_generation
        from voxforge.nn.generate.generator import DEFAULT_MODEL, load_generator
        from voxforge.nn.generate.train import GenerateTrainConfig, captioned_set

        if not data.is_file():
            raise InputFormatError(f"{data}: no such voxel set")
        if phrasings not in ("eval", "train"):
            raise ConfigError(f"--phrasings must be 'eval' or 'train', got {phrasings!r}")
        gen = load_generator(weights or DEFAULT_MODEL)
        split = gen.info.get("training", {}).get("split", {})
        cfg = GenerateTrainConfig(
            data=str(data),
            val_fraction=split.get("val_fraction", 0.15),
            split_seed=split.get("split_seed", 0),
        )
        with progress_bar(not quiet and not as_json) as cb:
            report = evaluate_generation(
                gen,
                captioned_set(cfg),
                load_classifier(classifier),
                variations=variations,
                per_class=per_class,
                seed=seed,
                guidance=guidance,
                progress=cb,
                phrasings=phrasings,  # type: ignore[arg-type]
            )
        if as_json:
            typer.echo(json.dumps(report, indent=2))
            return
        keys = (
            "class_agreement",
            "attribute_adherence",
            "diversity_iou_distance",
            "diversity_iou_distance_aligned",
            "novelty_nearest_train_iou",
        )
        typer.echo(f"{'metric':34s} {'generator':>10s} {'retrieval':>10s}")
        for k in keys:
            typer.echo(f"{k:34s} {report['generator'][k]:10.4f} {report['retrieval'][k]:10.4f}")
        typer.echo(f"seconds per shape (generator): {report['generator']['seconds_per_shape']:.3f}")

    guarded(run)


def train_generator_cmd(
    config: Annotated[
        Path | None, typer.Option("--config", help="YAML config (configs/generation/text.yaml).")
    ] = None,
    output: Annotated[
        Path, typer.Option("-o", "--output", help="Weights stem to write (.safetensors + .json).")
    ] = Path("models/generator-text"),
    work: Annotated[
        Path, typer.Option("--work", help="Folder for checkpoints and cached latents.")
    ] = Path("runs/generator-text"),
    head_from: Annotated[
        Path | None,
        typer.Option(
            "--head-from",
            help="Retrain only the attribute head on this config's captions into the generator at "
            "this stem (its VAE and denoiser are kept); seconds instead of the whole run.",
        ),
    ] = None,
) -> None:
    """Train the text-to-shape generator (voxel VAE, then the text-conditioned latent denoiser)."""

    def run() -> None:
        from voxforge.core.config import build_config, load_config
        from voxforge.nn.generate.train import (
            GenerateTrainConfig,
            retrain_attribute_head,
            train_generator,
        )

        cfg = (
            load_config(GenerateTrainConfig, config) if config else build_config(GenerateTrainConfig, {})
        )
        if head_from is not None:
            path = retrain_attribute_head(cfg, head_from, output, work)
        else:
            path = train_generator(cfg, output, work)
        typer.echo(f"wrote {path} and {path.with_suffix('.json')}")

    guarded(run)
