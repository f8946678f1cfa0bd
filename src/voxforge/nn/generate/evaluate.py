"""``voxforge evaluate generation``: how well generated shapes follow their prompts.

Every number is measured on prompts built from the held-back templates and words of
:mod:`voxforge.nn.generate.captions` (never the training phrasings) and is given beside the same
number for the retrieval baseline, which returns the training shapes whose training captions are
nearest to the prompt in the sentence encoder's space (one distinct shape per variation).

- class agreement: the shipped voxel classifier's label of each generated shape equals the class the
  prompt names (mean and per class);
- attribute adherence: for each class and attribute pair ("tall"/"low", ...), the mean measure of
  the shapes made for the high word exceeds that of the shapes made for the low word; the share
  of ordered pairs (pairs whose class has too few training shapes with either word are skipped);
- diversity: mean pairwise IoU distance (1 - IoU) among the variations of one prompt, as they
  come and after the best of the 8 z-quarter-turn / mirror alignments (so a turned copy of the
  same shape does not count as a different one);
- novelty: each generated shape's best IoU to any training shape of the prompt's class over the 8
  alignments (1.0 is a copy of a training shape);
- timing: wall and CPU seconds per generated shape (prompt encoding, sampling, decoding).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from voxforge.core.progress import ProgressCallback, null_progress
from voxforge.nn.generate.captions import (
    ATTRIBUTES,
    CLASS_WORDS,
    TEMPLATES,
    WORDS,
    ShapeMeasures,
    Split,
    attribute_prompt,
    measure_shape,
    render_template,
)
from voxforge.nn.generate.generator import TextToShape
from voxforge.nn.generate.train import CaptionedSet, caption_table, dihedral


@dataclass
class Retrieval:
    """Nearest-caption retrieval over the training shapes (the baseline)."""

    emb: np.ndarray  # (M, D) caption embeddings
    owner: np.ndarray  # (M,) shape index of each caption
    voxels: np.ndarray  # (N, 32, 32, 32) the set's grids

    def retrieve(self, query: np.ndarray, n: int) -> np.ndarray:
        """(D,) prompt embedding -> (n, 32, 32, 32) bool: the n distinct nearest shapes."""
        order = np.argsort(-(self.emb @ query), kind="stable")
        seen: list[int] = []
        for i in self.owner[order]:
            if int(i) not in seen:
                seen.append(int(i))
                if len(seen) == n:
                    break
        return self.voxels[seen] > 0


def class_prompts(per_class: int, seed: int, split: Split = "eval") -> list[tuple[str, str]]:
    """(class, prompt) pairs from the ``split`` templates: class words, half with one adjective."""
    rng = np.random.default_rng(seed)
    out = []
    templates, words_of = TEMPLATES[split], WORDS[split]
    for cls, words in CLASS_WORDS.items():
        for k in range(per_class):
            template = templates[k % len(templates)] if split == "eval" else str(rng.choice(templates))
            adj = [str(rng.choice(words_of[str(rng.choice(list(words_of)))]))] if k % 2 else []
            out.append((cls, render_template(template, words[k % len(words)], adj)))
    return out


def _measure(occ: np.ndarray) -> ShapeMeasures | None:
    try:
        return measure_shape(occ)
    except ValueError:
        return None


def pairwise_distance(shapes: np.ndarray, aligned: bool) -> float:
    """Mean 1 - IoU over all pairs of (n, 32, 32, 32) bool shapes (best alignment when ``aligned``)."""
    n = len(shapes)
    if n < 2:
        return 0.0
    d = []
    for i in range(n):
        for j in range(i + 1, n):
            copies = [dihedral(shapes[j], k) for k in range(8)] if aligned else [shapes[j]]
            d.append(1.0 - max(_iou(shapes[i], c) for c in copies))
    return float(np.mean(d))


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def nearest_training_iou(shapes: np.ndarray, train: np.ndarray, chunk: int = 256) -> np.ndarray:
    """(n,) best IoU of each shape to any (m, 32, 32, 32) training grid over the 8 alignments."""
    t = torch.from_numpy(train.reshape(len(train), -1).astype(np.float32))
    t_count = t.sum(1)
    best = np.zeros(len(shapes), np.float32)
    for k in range(8):
        q = torch.from_numpy(
            np.ascontiguousarray(dihedral(shapes, k)).reshape(len(shapes), -1).astype(np.float32)
        )
        q_count = q.sum(1)
        for s in range(0, len(t), chunk):
            inter = q @ t[s : s + chunk].T
            union = q_count[:, None] + t_count[None, s : s + chunk] - inter
            iou = (inter / union.clamp(min=1)).max(1).values.numpy()
            best = np.maximum(best, iou)
    return best


def evaluate_generation(
    gen: TextToShape,
    data: CaptionedSet,
    classifier: Any,
    *,
    variations: int = 4,
    per_class: int = 6,
    seed: int = 0,
    guidance: float | None = None,
    steps: int = 40,
    retrieval_captions: int = 4,
    retrieval: Retrieval | None = None,
    progress: ProgressCallback | None = None,
    phrasings: Split = "eval",
) -> dict[str, Any]:
    """The report described in the module docstring (plain JSON-ready dict).

    ``retrieval`` defaults to ``retrieval_captions`` training captions per training shape.
    ``phrasings="train"`` builds the prompts from the training phrasings instead: the validation
    protocol that chooses checkpoints and the guidance, so the held-back phrasings stay unseen.
    """
    progress = progress or null_progress
    guidance = gen.resolve_guidance(guidance)
    enc = gen.encoder
    if retrieval is None:
        texts, owner = caption_table(data, retrieval_captions, seed + 7)
        retrieval = Retrieval(enc.encode(texts), owner, data.voxels)
    methods = ("generator", "retrieval")

    def make(prompt: str, s: int) -> tuple[dict[str, np.ndarray], tuple[float, float]]:
        t0, c0 = time.perf_counter(), time.process_time()
        g = gen.generate(prompt, variations, s, guidance, steps)
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        q = enc.encode([g.reading.condition])[0]
        out = {"generator": g.occupancy, "retrieval": retrieval.retrieve(q, variations)}
        return out, (dt / variations, dc / variations)

    # class agreement, diversity, novelty
    prompts = class_prompts(per_class, seed, phrasings)
    shapes: dict[str, list[np.ndarray]] = {m: [] for m in methods}
    labels: list[str] = []
    div: dict[str, list[float]] = {f"{m}{a}": [] for m in methods for a in ("", "_aligned")}
    seconds = []
    for i, (cls, prompt) in enumerate(prompts):
        progress("class prompts", i / len(prompts))
        out, dt = make(prompt, seed + i)
        seconds.append(dt)
        for m in methods:
            shapes[m].append(out[m])
            div[m].append(pairwise_distance(out[m], aligned=False))
            div[f"{m}_aligned"].append(pairwise_distance(out[m], aligned=True))
        labels += [cls] * variations
    report: dict[str, Any] = {
        "prompts": {
            "class": len(prompts),
            "variations": variations,
            "guidance": guidance,
            "steps": steps,
            "seed": seed,
            "phrasings": phrasings,
        },
        "threads": torch.get_num_threads(),
    }
    train_labels = np.array([data.classes[int(c)] for c in data.labels[data.train]])
    for m in methods:
        grids = np.concatenate(shapes[m])
        pred = classifier.predict_proba(grids.astype(np.uint8), views=4).argmax(1)
        names = [classifier.classes[p] for p in pred]
        ok = np.array([a == b for a, b in zip(names, labels, strict=True)])
        per = {c: round(float(ok[np.array(labels) == c].mean()), 4) for c in CLASS_WORDS}
        progress("novelty", 0.0)
        near = np.zeros(len(grids), np.float32)
        for c in CLASS_WORDS:  # the nearest training shape of the prompt's class
            rows = np.array(labels) == c
            pool = data.voxels[data.train[train_labels == c]] > 0
            if rows.any() and len(pool):
                near[rows] = nearest_training_iou(grids[rows], pool)
        report[m] = {
            "class_agreement": round(float(ok.mean()), 4),
            "class_agreement_per_class": per,
            "diversity_iou_distance": round(float(np.mean(div[m])), 4),
            "diversity_iou_distance_aligned": round(float(np.mean(div[f"{m}_aligned"])), 4),
            "novelty_nearest_train_iou": round(float(near.mean()), 4),
            "novelty_share_above_0.9": round(float((near > 0.9).mean()), 4),
        }
    report["generator"]["seconds_per_shape"] = round(float(np.mean([w for w, _ in seconds])), 4)
    report["generator"]["cpu_seconds_per_shape"] = round(float(np.mean([c for _, c in seconds])), 4)
    report["attributes"] = attribute_adherence(make, data, seed, progress, split=phrasings)
    for m in methods:
        report[m]["attribute_adherence"] = report["attributes"][m]["adherence"]
    return report


def attribute_adherence(
    make: Any,
    data: CaptionedSet,
    seed: int,
    progress: ProgressCallback,
    phrasings: int = 2,
    split: Split = "eval",
) -> dict[str, Any]:
    """Share of (class, attribute) pairs whose high-word shapes measure higher than low-word ones.

    Each word is asked for in ``phrasings`` held-back sentences; the means pool their shapes.
    """
    rng = np.random.default_rng(seed + 11)
    rows: dict[str, list[dict[str, Any]]] = {"generator": [], "retrieval": []}
    pairs = [(c, a) for c in CLASS_WORDS for a in ATTRIBUTES]
    for i, (cls, attr) in enumerate(pairs):
        progress("attributes", i / len(pairs))
        hi_word, lo_word = ATTRIBUTES[attr]
        support = _support(data, cls, hi_word, lo_word)
        if min(support) < 10:
            continue
        hi_prompts = [attribute_prompt(cls, hi_word, rng, split) for _ in range(phrasings)]
        lo_prompts = [attribute_prompt(cls, lo_word, rng, split) for _ in range(phrasings)]
        # the same seeds for both words: the shapes differ by the prompt, not by the noise
        hi = [make(p, seed + 1000 * (k + 1) + i)[0] for k, p in enumerate(hi_prompts)]
        lo = [make(p, seed + 1000 * (k + 1) + i)[0] for k, p in enumerate(lo_prompts)]
        hi_prompt, lo_prompt = " | ".join(hi_prompts), " | ".join(lo_prompts)
        for m in rows:
            vh = [x.value(attr) for h in hi for x in map(_measure, h[m]) if x is not None]
            vl = [x.value(attr) for h in lo for x in map(_measure, h[m]) if x is not None]
            ok = bool(vh and vl and np.mean(vh) > np.mean(vl))
            rows[m].append(
                {
                    "class": cls,
                    "attribute": attr,
                    "high": hi_prompt,
                    "low": lo_prompt,
                    "high_mean": round(float(np.mean(vh)), 4) if vh else None,
                    "low_mean": round(float(np.mean(vl)), 4) if vl else None,
                    "ordered": ok,
                }
            )
    out: dict[str, Any] = {}
    for m, r in rows.items():
        by_attr = {
            a: round(float(np.mean([x["ordered"] for x in r if x["attribute"] == a])), 4)
            for a in ATTRIBUTES
            if any(x["attribute"] == a for x in r)
        }
        out[m] = {
            "adherence": round(float(np.mean([x["ordered"] for x in r])), 4) if r else None,
            "pairs": len(r),
            "per_attribute": by_attr,
            "rows": r,
        }
    return out


def _support(data: CaptionedSet, cls: str, hi: str, lo: str) -> tuple[int, int]:
    idx = [i for i in data.train if data.attributes[int(i)].cls == cls]
    return (
        sum(hi in data.attributes[int(i)].words for i in idx),
        sum(lo in data.attributes[int(i)].words for i in idx),
    )
