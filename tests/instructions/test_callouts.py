import io
from collections import Counter

import numpy as np
from PIL import Image

from voxforge.bricks.geometry import DEFAULT_COLORS
from voxforge.core.brickmodel import BrickModel, Placement
from voxforge.instructions.callouts import PartEntry, Thumbnails, part_entries

from .models import random_stack


def test_callout_counts_equal_the_steps_parts():
    model = random_stack(seed=3)
    step = list(range(5, 17))
    entries = part_entries(model, step)
    expected = Counter((model.placements[i].part, model.placements[i].color) for i in step)
    assert {(e.part, e.color): e.count for e in entries} == dict(expected)
    assert sum(e.count for e in entries) == len(step)
    # bricks sorted big first, then by colour code
    keys = [(e.part, e.color) for e in entries]
    sizes = {"3001": 8, "3003": 4, "3004": 2, "3005": 1}
    assert [sizes[p] for p, _ in keys] == sorted((sizes[p] for p, _ in keys), reverse=True)


def test_part_entry_names_colours_from_the_ldraw_table():
    model = BrickModel([Placement("3001", 0, 0, 0, 4, 2, 3, 4)] * 2, (4, 2, 3))
    assert part_entries(model) == [PartEntry("3001", "Brick 2 x 4", 4, "Red", "#B40000", 2)]
    assert part_entries(model)[0].as_dict()["rgb"] == "#B40000"


def test_thumbnails_share_one_scale_and_are_cached():
    thumbs = Thumbnails(DEFAULT_COLORS, px_per_stud=20, max_px=400)
    big = thumbs.png("3001", 4)
    thumbs.png("3005", 4)
    assert thumbs.png("3001", 4) is big and len(thumbs) == 2
    (bw, bh), (sw, sh) = thumbs.size("3001", 4), thumbs.size("3005", 4)
    # same pixels per stud: seen from a corner, widths go as (sx + sy): 6 studs vs 2
    assert abs(bw / sw - 3.0) < 0.15
    assert sh < bh < 2 * sh
    image = np.asarray(Image.open(io.BytesIO(big)))
    assert image.shape == (bh, bw, 4)
    assert image[0, 0, 3] == 0 and image[bh // 2, bw // 2, 3] == 255
    # drawn in the part's colour (red dominates the opaque pixels)
    opaque = image[image[..., 3] == 255][:, :3].astype(int)
    assert (opaque[:, 0] > opaque[:, 2] + 40).mean() > 0.8
    capped = Thumbnails(DEFAULT_COLORS, px_per_stud=100, max_px=120)
    assert max(capped.size("3001", 4)) <= 120
