"""Fixtures shared by the reconstruction tests: a tiny render set, its feature cache, a featvox run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from voxforge.nn.reconstruct.renderset import RenderSetConfig, build_render_set

from ..conftest import make_dataset


@pytest.fixture(scope="package")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from voxforge.nn.reconstruct.features import build_feature_cache
    from voxforge.nn.reconstruct.featvox_train import FeatVoxConfig, train_featvox

    root = tmp_path_factory.mktemp("featvox")
    tiny_npz = root / "tiny.npz"
    np.savez_compressed(tiny_npz, **make_dataset(n_per_class=4))  # 12 shapes, 3 classes
    rs = build_render_set(
        tiny_npz, root / "rs", RenderSetConfig(views=2, size=128, shard_objects=10), workers=1
    )
    feats = build_feature_cache(rs, root / "feats", max_views={"sketch": 1})
    cfg = FeatVoxConfig(render_set=rs, features=feats, output_dir=root / "runs", max_steps=3,
                        batch_objects=2, eval_every_minutes=100, warmup_minutes=0,
                        decoder={"reduce": 8, "pooled_width": 16, "seed_channels": 4,
                                 "widths": [4, 4]})  # fmt: skip
    return rs, train_featvox(cfg)
