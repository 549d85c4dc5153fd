"""Foot contacts and the foot-skate clean-up, on small constructed motions (60 fps, y up)."""

from __future__ import annotations

import numpy as np
import pytest

from aichoreo.footlock import FootLocker, foot_contacts, lock_feet
from aichoreo.motion import SMPLMotion
from aichoreo.rotations import axis_angle_to_matrix, matrix_to_axis_angle
from aichoreo.skeleton import PARENTS, REST_OFFSETS

FPS = 60.0
LEG_JOINTS = (1, 2, 4, 5, 7, 8)  # hips, knees, ankles: the only rotations lock_feet may change
ANKLE = (7, 8)
CM, MM = 0.01, 0.001


def _ramp(x):
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def _crouch(n: int) -> np.ndarray:
    """(n, 24, 3) axis-angle: both knees bent 0.8 rad, hips and ankles compensating (feet flat)."""
    aa = np.zeros((n, 24, 3))
    aa[:, (1, 2), 0] = -0.4
    aa[:, (4, 5), 0] = 0.8
    aa[:, (7, 8), 0] = -0.4
    return aa


def _motion(aa: np.ndarray, translation: np.ndarray) -> SMPLMotion:
    return SMPLMotion(axis_angle_to_matrix(aa), translation, FPS)


def _sliding_stance(n: int = 90, slide_m: float = 0.12, sink_m: float = 0.02) -> SMPLMotion:
    """Standing crouched while the root slides ``slide_m`` along x and sinks ``sink_m``: both feet skate."""
    translation = np.zeros((n, 3))
    translation[:, 0] = np.linspace(0.0, slide_m, n)
    translation[:, 1] = -np.linspace(0.0, sink_m, n)
    return _motion(_crouch(n), translation)


STANCE = slice(40, 110)  # the left foot's contact run in _step()


def _step(n: int = 150) -> SMPLMotion:
    """Walking-like: the root moves forward 0.1 m/s; the left foot is planted (and skates with the
    root) over STANCE, lifted before and after; the right leg swings high in the air throughout."""
    t = np.arange(n)
    lift = np.maximum(_ramp((STANCE.start - t) / 15), _ramp((t - (STANCE.stop - 1)) / 15))  # 0 in stance
    aa = _crouch(n)
    aa[:, 1, 0] -= 0.6 * lift
    aa[:, 4, 0] += 1.0 * lift
    phase = 2 * np.pi * 1.5 * t / FPS
    aa[:, 2, 0] = -0.9 + 0.5 * np.sin(phase)
    aa[:, 5, 0] = 1.4 + 0.3 * np.sin(phase)
    aa[:, 8, 0] = 0.0
    aa[:, 16, 2] = 0.3 * np.sin(phase)  # an arm that moves, to see that it is left alone
    translation = np.zeros((n, 3))
    translation[:, 2] = 0.1 * t / FPS
    return _motion(aa, translation)


def _step_contacts(n: int = 150) -> np.ndarray:
    contacts = np.zeros((n, 2), dtype=bool)
    contacts[STANCE, 0] = True
    return contacts


def _max_step(x: np.ndarray) -> float:
    """Largest frame-to-frame move of a (T, ..., 3) path, metres."""
    return float(np.linalg.norm(np.diff(x, axis=0), axis=-1).max())


def _max_turn(rotations: np.ndarray) -> float:
    """Largest frame-to-frame rotation angle of (T, 3, 3) matrices, radians."""
    r = rotations.astype(np.float64)
    return float(np.linalg.norm(matrix_to_axis_angle(np.swapaxes(r[:-1], -1, -2) @ r[1:]), axis=-1).max())


# --------------------------------------------------------------------------- foot_contacts


def _feet_joints(n: int, left_y, right_y, left_x=0.0, right_x=0.0) -> np.ndarray:
    """(n, 24, 3) joints with only the feet placed: per foot the ball-of-foot joint at height y
    (scalar or (n,)) and horizontal position x, its ankle 6 cm above; every other joint 1 m up."""
    joints = np.zeros((n, 24, 3))
    joints[..., 1] = 1.0
    for ankle, ball, y, x in ((7, 10, left_y, left_x), (8, 11, right_y, right_x)):
        joints[:, ball, 1] = y
        joints[:, ankle, 1] = np.asarray(y) + 0.06
        joints[:, (ankle, ball), 0] = np.asarray(x, dtype=float)[..., None] if np.ndim(x) else x
        joints[:, ankle, 2] = -0.1  # ankle behind the ball of the foot
    return joints


def test_a_still_foot_on_the_floor_is_in_contact_a_lifted_one_is_not():
    contacts = foot_contacts(_feet_joints(60, left_y=0.0, right_y=0.25), fps=FPS)
    assert contacts.shape == (60, 2) and contacts.dtype == bool
    assert contacts[:, 0].all() and not contacts[:, 1].any()


def test_a_fast_foot_on_the_floor_is_not_in_contact():
    t = np.arange(60) / FPS
    joints = _feet_joints(60, left_y=0.0, right_y=0.0, right_x=1.0 * t)  # right foot slides at 1 m/s
    contacts = foot_contacts(joints, fps=FPS)
    assert contacts[:, 0].all() and not contacts[:, 1].any()
    slow = foot_contacts(_feet_joints(60, left_y=0.0, right_y=0.0, right_x=0.1 * t), fps=FPS)
    assert slow.all()  # a 0.1 m/s skate is a (skating) contact: what lock_feet is for


def test_the_floor_is_estimated_from_the_motion_and_robust_to_a_few_sunk_frames():
    base = _feet_joints(100, left_y=0.0, right_y=0.25)
    shifted = base.copy()
    shifted[..., 1] -= 1.2  # the same motion 1.2 m lower
    np.testing.assert_array_equal(foot_contacts(shifted, fps=FPS), foot_contacts(base, fps=FPS))
    sunk = base.copy()
    sunk[50, (7, 10), 1] -= 0.5  # one frame through the floor does not move the floor
    assert foot_contacts(sunk, fps=FPS)[:, 0].sum() >= 98
    # a foot hovering 4 cm above the floor counts, 10 cm does not (height_m = 6 cm)
    result = foot_contacts(_feet_joints(60, left_y=0.04, right_y=0.10), fps=FPS, floor_m=0.0)
    assert result[:, 0].all() and not result[:, 1].any()


def test_contact_thresholds_are_keywords():
    joints = _feet_joints(30, left_y=0.0, right_y=0.08)
    assert not foot_contacts(joints, fps=FPS, floor_m=0.0)[:, 1].any()
    assert foot_contacts(joints, fps=FPS, floor_m=0.0, height_m=0.1, ankle_height_m=0.2)[:, 1].all()


def test_short_blips_are_removed_and_short_gaps_filled():
    n = 60
    left = np.full(n, 0.3)
    left[20:22] = 0.0  # 2 frames down: a blip
    left[40:45] = 0.0  # 5 frames down: a contact
    right = np.zeros(n)
    right[30] = 0.3  # one frame up inside a long contact: a gap
    right[0:3] = 0.0
    contacts = foot_contacts(_feet_joints(n, left_y=left, right_y=right), fps=FPS, floor_m=0.0)
    assert not contacts[:40, 0].any()
    assert contacts[40:45, 0].all() and not contacts[46:, 0].any()
    assert contacts[:, 1].all()
    # the raw labels do have the blip and the gap: the morphology did the work
    raw = foot_contacts(_feet_joints(n, left_y=left, right_y=right), fps=FPS, floor_m=0.0,
                        min_contact_s=0.0, max_gap_s=0.0)
    assert raw[20:22, 0].all() and not raw[30, 1]


def test_foot_contacts_follows_the_up_axis():
    joints = _feet_joints(40, left_y=0.0, right_y=0.25)
    z_up = joints[..., [0, 2, 1]] * np.array([1.0, -1.0, 1.0])  # (x, y, z) -> (x, -z, y): y up becomes z up
    np.testing.assert_array_equal(foot_contacts(z_up, fps=FPS, up_axis=2), foot_contacts(joints, fps=FPS))
    assert foot_contacts(z_up, fps=FPS, up_axis=1)[:, 1].all()  # the wrong axis: the lifted foot "on the floor"


def test_foot_contacts_on_a_step_finds_the_stance():
    contacts = foot_contacts(_step().joints(), fps=FPS)
    assert contacts[STANCE.start + 5:STANCE.stop - 5, 0].all()
    assert not contacts[:STANCE.start - 10, 0].any() and not contacts[STANCE.stop + 10:, 0].any()
    assert not contacts[:, 1].any()  # the swinging foot


def test_foot_contacts_rejects_bad_input():
    with pytest.raises(ValueError, match="shape"):
        foot_contacts(np.zeros((10, 22, 3)), fps=FPS)
    with pytest.raises(ValueError, match="fps"):
        foot_contacts(np.zeros((10, 24, 3)), fps=0)
    with pytest.raises(ValueError, match="up_axis"):
        foot_contacts(np.zeros((10, 24, 3)), fps=FPS, up_axis=3)
    bad = np.zeros((10, 24, 3))
    bad[3, 7, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        foot_contacts(bad, fps=FPS)


# --------------------------------------------------------------------------- lock_feet


@pytest.mark.parametrize("detected", [False, True], ids=["given", "detected"])
def test_a_skating_planted_foot_is_held_in_place(detected):
    motion = _sliding_stance()
    before = motion.joints()
    contacts = None if detected else np.ones((len(motion), 2), dtype=bool)
    if detected:
        assert foot_contacts(before, fps=FPS).all()
    out = lock_feet(motion, contacts)
    after = out.joints()
    for ankle in ANKLE:
        assert np.ptp(before[:, ankle, 0]) > 0.1  # the input skates 12 cm ...
        locked = before[:3, ankle].mean(axis=0)  # ... and the lock holds where the foot landed
        assert np.abs(after[:, ankle] - locked).max() < CM
        assert np.ptp(after[:, ankle, 1]) < CM  # no vertical drift either (the input sinks 2 cm)
    np.testing.assert_array_equal(out.translation, motion.translation)  # reachable: the root stays


def test_the_step_locks_the_stance_foot_and_leaves_the_swinging_foot_and_the_body_alone():
    motion = _step()
    before = motion.joints()
    out = lock_feet(motion, _step_contacts(), blend_frames=8)
    after = out.joints()

    stance = before[STANCE, 7]
    assert np.ptp(stance[:, 2]) > 0.05  # the input stance foot skates ~12 cm
    assert np.abs(after[STANCE, 7] - stance[:3].mean(axis=0)).max() < CM

    far = np.r_[0:STANCE.start - 8, STANCE.stop + 8:len(motion)]  # away from the blend zones
    assert np.abs(after[far, 7] - before[far, 7]).max() < MM
    assert np.abs(after[:, 8] - before[:, 8]).max() < MM  # the swinging foot
    others = [j for j in range(24) if j not in LEG_JOINTS]
    np.testing.assert_array_equal(out.rotations[:, others], motion.rotations[:, others])
    np.testing.assert_array_equal(out.translation, motion.translation)
    np.testing.assert_array_equal(out.rotations[far], motion.rotations[far])  # untouched frames keep their bits


def test_the_foot_keeps_its_world_orientation():
    motion = _step()
    out = lock_feet(motion, _step_contacts())

    def ankle_world(m):
        g = m.rotations[:, 0].astype(np.float64)
        for j in (1, 4, 7):
            g = g @ m.rotations[:, j].astype(np.float64)
        return g

    np.testing.assert_allclose(ankle_world(out), ankle_world(motion), atol=1e-5)
    assert np.abs(out.rotations[STANCE, 4] - motion.rotations[STANCE, 4]).max() > 0.01  # the knee did change


def test_no_pop_and_no_knee_flip():
    motion = _step()
    before = motion.joints()
    out = lock_feet(motion, _step_contacts())
    after = out.joints()
    for ankle in ANKLE:
        assert _max_step(after[:, ankle]) <= 1.5 * _max_step(before[:, ankle]) + MM
    assert _max_step(out.translation) <= 1.5 * _max_step(motion.translation) + MM
    for joint in (1, 4):  # hip, knee (the ankle's world orientation is held: test above)
        assert _max_turn(out.rotations[:, joint]) <= 1.5 * _max_turn(motion.rotations[:, joint]) + 0.02
    # the knee still flexes (positive rotation about its x axis), it never bends backwards
    assert (matrix_to_axis_angle(out.rotations[:, 4].astype(np.float64))[:, 0] > 0.3).all()


def test_without_a_blend_the_correction_would_pop():
    """The smooth fade is what keeps the step bound above: a hard switch breaks it."""
    motion = _step()
    before = motion.joints()
    hard = lock_feet(motion, _step_contacts(), blend_frames=0).joints()
    assert _max_step(hard[:, 7]) > 1.5 * _max_step(before[:, 7]) + MM


def test_bone_lengths_and_rotations_stay_valid():
    motion = _step()
    out = lock_feet(motion, _step_contacts())
    joints = out.joints().astype(np.float64)
    lengths = np.linalg.norm(joints[:, 1:] - joints[:, PARENTS[1:]], axis=-1)  # (T, 23)
    np.testing.assert_allclose(lengths, np.broadcast_to(np.linalg.norm(REST_OFFSETS[1:], axis=-1), lengths.shape),
                               atol=1e-5)
    r = out.rotations.astype(np.float64)
    assert np.abs(np.swapaxes(r, -1, -2) @ r - np.eye(3)).max() < 1e-5
    np.testing.assert_allclose(np.linalg.det(r), 1.0, atol=1e-5)


def test_an_unreachable_target_moves_the_root_smoothly():
    n = 120
    translation = np.zeros((n, 3))
    translation[:, 2] = np.linspace(0.0, 0.25, n)  # straight legs; the root glides 25 cm forward
    motion = _motion(np.zeros((n, 24, 3)), translation)
    contacts = np.zeros((n, 2), dtype=bool)
    contacts[20:, 0] = True  # the left foot is planted from frame 20 on
    before = motion.joints()
    out = lock_feet(motion, contacts, max_slip_m=0.3)  # the leash (test below) would let it follow
    after = out.joints()

    locked = before[20:23, 7].mean(axis=0)
    # a straight leg cannot follow: without moving the root the ankle would miss by ~2.4 cm
    assert np.linalg.norm(locked - before[-1, 1]) - np.linalg.norm(REST_OFFSETS[4] + REST_OFFSETS[7]) > 0.02
    assert np.abs(after[20:, 7] - locked).max() < CM
    shift = out.translation - motion.translation
    assert np.abs(shift).max() > CM  # the root gave way ...
    assert _max_step(out.translation) <= 1.5 * _max_step(motion.translation) + MM  # ... smoothly
    assert np.abs(np.diff(shift, 2, axis=0)).max() < 0.5 * MM  # no kink: second differences stay tiny
    np.testing.assert_array_equal(shift[:5], 0.0)  # and only where needed
    assert np.abs(after[:, 8] - before[:, 8]).max() < MM  # the free foot stays on its path
    assert _max_step(after[:, 8]) <= 1.5 * _max_step(before[:, 8]) + MM


def test_a_body_gliding_on_over_a_planted_foot_drags_it_on_a_leash():
    """A contact run in which the body travels 2 m: the foot is held until it is max_slip_m behind,
    then follows; the root is never dragged back by metres, and nothing pops."""
    n = 600
    translation = np.zeros((n, 3))
    translation[:, 0] = np.linspace(0.0, 2.0, n)  # 0.2 m/s for 10 s: slow enough to count as planted
    motion = _motion(_crouch(n), translation)
    contacts = np.zeros((n, 2), dtype=bool)
    contacts[:, 0] = True
    before, out = motion.joints(), lock_feet(motion, contacts, max_slip_m=0.1)
    after = out.joints()
    lag = np.linalg.norm(after[:, 7] - before[:, 7], axis=-1)
    assert lag.max() < 0.1 + CM  # the held ankle never falls farther behind than the leash
    assert np.abs(after[:25, 7] - after[0, 7]).max() < CM  # held while the body is within the leash
    assert np.abs(out.translation - motion.translation).max() < 0.1  # the root is not dragged back
    assert _max_step(after[:, 7]) <= 1.5 * _max_step(before[:, 7]) + MM
    with pytest.raises(ValueError, match="max_slip_m"):
        lock_feet(motion, contacts, max_slip_m=0)


def test_a_motion_without_contacts_is_returned_unchanged():
    motion = _step()
    assert lock_feet(motion, np.zeros((len(motion), 2), dtype=bool)) is motion
    translation = np.zeros((60, 3))
    translation[:, 0] = np.linspace(0.0, 1.0, 60)  # gliding at 1 m/s: no foot is ever slow enough
    glide = _motion(_crouch(60), translation)
    assert not foot_contacts(glide.joints(), fps=FPS).any()
    assert lock_feet(glide) is glide


@pytest.mark.parametrize("n", [1, 2])
def test_very_short_motions(n):
    motion = _sliding_stance(n, slide_m=0.002 * (n - 1), sink_m=0.001 * (n - 1))  # 0.12 m/s
    contacts = foot_contacts(motion.joints(), fps=FPS)
    assert contacts.shape == (n, 2) and contacts.all()  # a run at either end continues past it
    out = lock_feet(motion)
    assert len(out) == n and out.fps == FPS
    assert np.isfinite(out.rotations).all() and np.isfinite(out.translation).all()
    after = out.joints()
    for ankle in ANKLE:
        assert np.abs(after[:, ankle] - motion.joints()[:, ankle].mean(axis=0)).max() < 6 * MM
    if n == 1:
        np.testing.assert_allclose(out.rotations, motion.rotations, atol=1e-6)


def test_the_input_motion_is_not_modified():
    motion = _sliding_stance()
    rotations, translation = motion.rotations.copy(), motion.translation.copy()
    lock_feet(motion)
    np.testing.assert_array_equal(motion.rotations, rotations)
    np.testing.assert_array_equal(motion.translation, translation)


def test_lock_feet_rejects_bad_contacts():
    motion = _sliding_stance(10)
    with pytest.raises(ValueError, match="contacts"):
        lock_feet(motion, np.ones((9, 2), dtype=bool))
    with pytest.raises(ValueError, match="contacts"):
        lock_feet(motion, np.ones((10, 2)))  # probabilities are not labels: threshold them first
    with pytest.raises(ValueError, match="blend_frames"):
        lock_feet(motion, blend_frames=-1)
    with pytest.raises(TypeError):
        lock_feet(motion.joints())


def test_keep_on_floor_removes_slow_drift_and_keeps_the_bounce():
    from aichoreo.footlock import keep_on_floor
    from aichoreo.seeds import bounce_seed

    still = bounce_seed(1200, 120.0, 0)  # 20 s bouncing on the floor
    translation = still.translation.copy()
    translation[:, 1] += np.linspace(0.0, 1.5, len(translation))  # floating 1.5 m up over the 20 s
    floating = SMPLMotion(still.rotations, translation, still.fps)
    def lowest(m):
        return m.joints()[:, [7, 8, 10, 11], 1].min(axis=1)

    out = keep_on_floor(floating, float(lowest(still).mean()))

    assert lowest(floating)[-1] > 1.4
    assert np.abs(lowest(out) - lowest(still)).max() < 0.05  # back on the floor (a few cm where the smoothing meets the ends)
    # The bounce (twice a second) survives: its frame-to-frame rhythm is the original's.
    np.testing.assert_allclose(np.diff(lowest(out)), np.diff(lowest(still)), atol=2e-3)
    np.testing.assert_array_equal(out.rotations, floating.rotations)
    with pytest.raises(ValueError):
        keep_on_floor(floating, float("nan"))


# --------------------------------------------------------------------------- FootLocker (live)


def _in_chunks(motion: SMPLMotion, sizes) -> SMPLMotion:
    """``motion`` through one FootLocker, a chunk of each size in turn (cycled), joined again."""
    locker = FootLocker(FPS)
    parts, start, i = [], 0, 0
    while start < len(motion):
        stop = min(len(motion), start + sizes[i % len(sizes)])
        parts.append(locker(motion.slice(start, stop)))
        start, i = stop, i + 1
    return SMPLMotion(np.concatenate([p.rotations for p in parts]), np.concatenate([p.translation for p in parts]), FPS)


def test_the_live_locker_holds_a_skating_foot_from_the_frames_so_far():
    motion = _sliding_stance()
    before, after = motion.joints(), _in_chunks(motion, [6]).joints()
    for ankle in ANKLE:
        assert np.ptp(before[:, ankle, 0]) > 0.1
        assert np.abs(after[:, ankle] - before[0, ankle]).max() < CM  # held where it landed, frame 0
    np.testing.assert_array_equal(_in_chunks(motion, [6]).translation, motion.translation)  # the root is never moved


def test_the_live_locker_leaves_the_swinging_foot_and_the_body_alone_and_releases_without_a_pop():
    motion = _step()
    before, out = motion.joints(), _in_chunks(motion, [6])
    after = out.joints()
    held = before[STANCE, 7]
    assert np.ptp(held[:, 2]) > 0.05
    # Held from the first frame the stance is low and slow (its landing), within a cm.
    assert np.abs(after[STANCE.start + 3:STANCE.stop, 7] - after[STANCE.start + 3, 7]).max() < CM
    assert np.abs(after[:, 8] - before[:, 8]).max() < MM  # the foot in the air
    others = [j for j in range(24) if j not in LEG_JOINTS]
    np.testing.assert_array_equal(out.rotations[:, others], motion.rotations[:, others])
    assert _max_step(after[:, 7]) < 2 * _max_step(before[:, 7]) + MM  # released over blend frames, no pop


def test_the_live_locker_gives_the_same_frames_in_any_chunks():
    motion = _step()
    whole = _in_chunks(motion, [len(motion)])
    for sizes in ([1], [6], [5, 7, 1]):
        np.testing.assert_allclose(_in_chunks(motion, sizes).rotations, whole.rotations, atol=1e-6)


def test_the_live_locker_lands_a_foot_where_it_is_shown_while_a_hold_fades():
    """A foot released (two quick frames) and planted again before the hold's offset has faded was
    anchored at its raw ankle: it popped by what was left of the offset (2-3 cm in one frame live)."""
    n = 80
    translation = np.zeros((n, 3))
    translation[30:, 0] = 0.04  # the body shuffles 8 cm in two frames, then stands again
    translation[31:, 0] = 0.08
    motion = _motion(_crouch(n), translation)
    after = _in_chunks(motion, [6]).joints()
    steps = np.linalg.norm(np.diff(after[:, list(ANKLE)], axis=0), axis=-1)  # (n - 1, 2) metres per frame
    assert steps[31:].max() < CM, np.round(steps[28:45] * 100, 2)  # landing and standing: no pop (7.7 cm before)
