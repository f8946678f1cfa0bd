import cv2
import numpy as np
import pytest

from voxforge.bricks.geometry import DEFAULT_COLORS, brick_model_geometry
from voxforge.bricks.order.plan import BuildPlan, BuildStep, SubAssembly
from voxforge.core.brickmodel import BrickModel
from voxforge.core.errors import ConfigError
from voxforge.instructions.steps import (
    STEP_OPTIONS,
    TURNS,
    StepScene,
    ViewConfig,
    best_view,
    choose_views,
    view_angles,
    walk_plan,
)
from voxforge.render.bricks import model_corners

from .models import random_stack, three_bricks, wall_model


def test_view_angles_follow_the_rotstep_convention():
    assert view_angles(None) == (225.0, 30.0, False)
    assert view_angles((30.0, 45.0, 0.0)) == (225.0, 30.0, False)
    assert view_angles((30.0, 135.0, 0.0)) == (315.0, 30.0, False)
    assert view_angles((-30.0, 225.0, 0.0)) == (45.0, -30.0, False)
    assert view_angles((390.0, 45.0, 0.0)) == (225.0, 30.0, False)
    # a sub-assembly built upside down (order.rotation_of_quarter(0, upside_down=True))
    assert view_angles((210.0, 45.0, 0.0)) == (135.0, -30.0, True)


def test_upside_down_view_shows_the_model_turned_over():
    from voxforge.bricks.order.planner import rotation_of_quarter

    model = three_bricks()
    scene = StepScene(model, None, size=128)
    upright = scene.camera(None)
    flipped = scene.camera(rotation_of_quarter(0, upside_down=True))
    top = model_corners(model)[:, 2].max()
    high = np.array([[0.0, 0.0, top]]) + model_corners(model).mean(axis=0) * [1, 1, 0]
    low = high - [0.0, 0.0, top]
    # screen y grows downward: upright, the top of the model is higher on screen; turned over, lower
    assert upright.project(high)[0, 1] < upright.project(low)[0, 1]
    assert flipped.project(high)[0, 1] > flipped.project(low)[0, 1]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_visible_faces_equal_the_geometry_culled_for_the_parts_built_so_far(seed):
    model = random_stack(seed=seed)
    scene = StepScene(model, DEFAULT_COLORS, 128, stud_segments=8)
    n = len(model)
    for upto in (n // 3, 2 * n // 3, n):
        present = np.arange(n) < upto
        built = BrickModel(model.placements[:upto], model.shape)
        expected = brick_model_geometry(built, DEFAULT_COLORS, stud_segments=8, cull_hidden=True)
        assert scene.visible_faces(present).sum() == len(expected.faces)


def _ring_mask(image: np.ndarray) -> np.ndarray:
    target = np.asarray(STEP_OPTIONS.highlight_rgb) * 255.0
    return np.abs(image.astype(np.float64) - target).max(axis=2) < 40


def test_step_image_highlights_exactly_the_new_part():
    model = three_bricks()
    scene = StepScene(model, DEFAULT_COLORS, 256)
    image = scene.render(np.ones(3, bool), [1])
    ring = _ring_mask(image)
    owner = scene.part_buffer(np.ones(3, bool), scene.camera(None))
    assert image.shape == (256, 256, 3) and owner.shape == (256, 256)
    kernel = np.ones((9, 9), np.uint8)
    near = {i: cv2.dilate((owner == i).astype(np.uint8), kernel).astype(bool) for i in range(3)}
    assert ring.sum() > 100
    # every ring pixel hugs the new part, none is near the old ones or on the new part's inside
    assert (ring <= near[1]).all()
    assert not (ring & (near[0] | near[2])).any()
    inside = cv2.erode((owner == 1).astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    assert not (ring & inside).any()
    # and the ring goes all round: most of the new part's outline has ring within 3 px
    new = (owner == 1).astype(np.uint8)
    outline = (cv2.dilate(new, np.ones((3, 3), np.uint8)) - new).astype(bool)
    close = cv2.dilate(ring.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
    assert (close[outline]).mean() > 0.9


def test_old_parts_are_dimmed_and_new_parts_keep_their_colour():
    model = three_bricks()
    scene = StepScene(model, DEFAULT_COLORS, 128)
    everything = np.ones(3, bool)
    plain = scene.render(everything)
    step = scene.render(everything, [1])
    owner = scene.part_buffer(everything, scene.camera(None, size=128))
    inner = {
        i: cv2.erode((owner == i).astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
        for i in range(3)
    }
    for old in (0, 2):  # faded toward light grey: brighter than drawn plainly
        assert step[inner[old]].astype(int).sum() > plain[inner[old]].astype(int).sum() * 1.1
    np.testing.assert_array_equal(step[inner[1]], plain[inner[1]])


def test_a_part_behind_a_wall_gets_a_turned_view():
    model = wall_model()
    scene = StepScene(model, DEFAULT_COLORS, 256)
    wall, plate = np.arange(10), np.array([10])
    everything = np.ones(11, bool)
    default = scene.visibility(everything, plate)
    assert default.score[0] < 0.3  # hidden from the default view
    turn = best_view(scene, everything, plate)
    assert turn in TURNS
    assert scene.visibility(everything, plate, turn).score[0] >= 0.3
    # the wall itself, built first, needs no turn
    assert best_view(scene, wall, wall) is None

    plan = BuildPlan((BuildStep(tuple(range(10))), BuildStep((10,))))
    viewed = choose_views(scene, plan)
    assert viewed.steps[0].rotation is None and viewed.steps[1].rotation == turn
    assert viewed.info["views_checked"] is True
    assert viewed.summary()["rotated_views"] == 1
    assert choose_views(scene, viewed) is viewed  # checked plans are returned as they are


def test_choose_views_keeps_rotations_the_plan_already_has():
    model = wall_model()
    scene = StepScene(model, DEFAULT_COLORS, 128)
    given = (30.0, 315.0, 0.0)
    plan = BuildPlan((BuildStep(tuple(range(10))), BuildStep((10,), rotation=given)))
    assert choose_views(scene, plan, ViewConfig()).steps[1].rotation == given


def test_walk_plan_puts_sub_assembly_steps_before_their_attach_step():
    sub = SubAssembly("arm", (1, 2), (BuildStep((2,)), BuildStep((1,))))
    plan = BuildPlan((BuildStep((0,)), BuildStep((1, 2), submodel=0)), (sub,))
    refs = walk_plan(plan, 3)
    assert [(r.within, r.number) for r in refs] == [(None, 1), (0, 1), (0, 2), (None, 2)]
    assert [r.present.tolist() for r in refs] == [[0], [2], [1, 2], [0, 1, 2]]
    assert [r.new.tolist() for r in refs] == [[0], [2], [1], [1, 2]]
    assert refs[1].frame.tolist() == [1, 2] and refs[0].frame is None
    with pytest.raises(ConfigError, match="in no build step"):
        walk_plan(BuildPlan((BuildStep((0,)),)), 3)


def test_choose_views_replaces_the_planners_heightmap_guesses():
    # plan_build's hints come from a heightmap; the renderer decides instead: a wrong guess on
    # the wall step is dropped and the hidden plate's step gets the rendered turn
    model = wall_model()
    scene = StepScene(model, DEFAULT_COLORS, 256)
    guess = (30.0, 315.0, 0.0)
    plan = BuildPlan(
        (BuildStep(tuple(range(10)), rotation=guess), BuildStep((10,))),
        info={"view_hints": "heightmap"},
    )
    viewed = choose_views(scene, plan)
    assert viewed.steps[0].rotation is None
    assert viewed.steps[1].rotation == best_view(scene, np.ones(11, bool), np.array([10]))
    assert viewed.steps[1].rotation is not None
    assert viewed.info["view_hints"] == "rendered"


def test_heightmap_guesses_do_not_replace_a_sub_assemblys_upside_down_view():
    # only the main steps carry guesses; a sub-assembly built turned over keeps its view
    model = wall_model()
    scene = StepScene(model, DEFAULT_COLORS, 128)
    flipped = (210.0, 45.0, 0.0)
    sub = SubAssembly("sub1", (10,), (BuildStep((10,), rotation=flipped),), upside_down=True)
    plan = BuildPlan(
        (BuildStep(tuple(range(10)), rotation=(30.0, 315.0, 0.0)), BuildStep((10,), submodel=0)),
        (sub,),
        info={"view_hints": "heightmap"},
    )
    viewed = choose_views(scene, plan)
    assert viewed.submodels[0].steps[0].rotation == flipped
    assert viewed.steps[0].rotation is None  # the main step's guess was replaced


@pytest.mark.parametrize("dim", [True, False])
def test_incremental_steps_match_a_full_redraw(dim):
    """The painter draws each step over the last one's buffers; the picture must be the one a
    full redraw gives, across view changes, a sub-assembly on the table and back."""
    from voxforge.instructions.steps import StepPainter

    model = random_stack(side=5, layers=4, seed=3)
    base = BuildPlan(tuple(BuildStep((i,)) for i in range(len(model) - 4)))
    cap = tuple(range(len(model) - 4, len(model)))
    sub = SubAssembly("cap", cap, (BuildStep(cap[:2]), BuildStep(cap[2:], rotation=TURNS[0])))
    steps = list(base.steps)
    steps[3] = BuildStep(steps[3].parts, rotation=TURNS[1])  # a turned view in between
    plan = BuildPlan((*steps, BuildStep(cap, submodel=0)), (sub,))
    scene = StepScene(model, DEFAULT_COLORS, size=160, options=STEP_OPTIONS)
    painter = StepPainter(scene, dim=dim, keep=2)
    worst = 0.0
    for ref in walk_plan(plan, len(model)):
        fast = painter.render(ref.present, ref.new, ref.step.rotation, frame=ref.frame)
        full = scene.render(ref.present, ref.new, ref.step.rotation, frame=ref.frame, dim=dim)
        assert fast.shape == full.shape
        diff = np.abs(fast.astype(int) - full.astype(int)).max(axis=2)
        worst = max(worst, float((diff > 8).mean()))
    assert worst < 0.002  # ties between coplanar faces may differ in a pixel or two


def test_view_box_holds_the_ink_of_the_parts_built_so_far():
    from voxforge.instructions.booklet import content_box

    model = random_stack(side=4, layers=3, seed=1)
    scene = StepScene(model, DEFAULT_COLORS, size=160)
    for present in (np.arange(3), np.arange(len(model))):
        for rotation in (None, TURNS[2]):
            ink = content_box(scene.render(present, rotation=rotation), pad=0)
            box = scene.view_box(present, rotation, pad=0)
            assert box[0] <= ink[0] and box[1] <= ink[1] and box[2] >= ink[2] and box[3] >= ink[3]
            assert (box[2] - box[0]) * (box[3] - box[1]) < 1.3 * (ink[2] - ink[0]) * (ink[3] - ink[1])


def test_visible_faces_of_some_parts_agree_with_the_whole_scene():
    model = random_stack(side=4, layers=3, seed=2)
    scene = StepScene(model, DEFAULT_COLORS, size=96)
    rng = np.random.default_rng(0)
    for _ in range(4):
        present = rng.random(len(model)) < 0.7
        parts = present & (rng.random(len(model)) < 0.5)
        expect = np.flatnonzero(scene.visible_faces(present) & parts[scene.face_part])
        np.testing.assert_array_equal(scene.visible_faces_of(parts, present), expect)
