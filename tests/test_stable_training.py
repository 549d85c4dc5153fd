"""fact-small-v2's and -v3's representation and training (issue 14): the root frame of the last
context frame, step targets, anchored prediction, context noise, mirrored and tempo-stretched windows."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from aichoreo.audio import BEATS, ONSET_PEAKS
from aichoreo.data.windows import MIRROR_JOINTS, RandomWindows, mirror_motion, retime_motion, retime_music
from aichoreo.models import FACTConfig, get_preset
from aichoreo.models.fact import FACT, STEP_SCALE, anchor_blend, context_noise, speed_matching_loss, step_targets
from aichoreo.models.rootframe import ROOT_ROTATION, TRANSLATION, from_frame, heading_frame, to_frame
from aichoreo.motion import FACT_PAD, SMPLMotion
from aichoreo.skeleton import JOINT_NAMES
from aichoreo.train import TrainConfig


def random_motion(n: int, seed: int = 0) -> np.ndarray:
    """``(n, 225)`` FACT vectors with random rotations and a wandering root."""
    rng = np.random.default_rng(seed)
    rots = Rotation.random(n * 24, random_state=seed).as_matrix().reshape(n, 24, 3, 3).astype(np.float32)
    transl = np.cumsum(rng.normal(0, 0.05, size=(n, 3)), axis=0).astype(np.float32)
    return SMPLMotion(rotations=rots, translation=transl).to_fact_vector(padded=True)


def turn_world(x: torch.Tensor, degrees: float, shift: tuple[float, float, float]) -> torch.Tensor:
    """The same motion with the world turned about y and shifted."""
    r = torch.tensor(Rotation.from_euler("y", degrees, degrees=True).as_matrix(), dtype=torch.float32)
    out = x.clone()
    out[..., TRANSLATION] = x[..., TRANSLATION] @ r.T + torch.tensor(shift)
    root = x[..., ROOT_ROTATION].reshape(*x.shape[:-1], 3, 3)
    out[..., ROOT_ROTATION] = (r @ root).reshape(*x.shape[:-1], 9)
    return out


def test_layout_matches_the_motion_vector():
    assert TRANSLATION == slice(FACT_PAD, FACT_PAD + 3)
    assert ROOT_ROTATION == slice(FACT_PAD + 3, FACT_PAD + 12)


def test_root_frame_puts_the_last_frame_at_the_origin_facing_z():
    x = torch.from_numpy(random_motion(50))[None]
    origin, turn = heading_frame(x[:, -1])
    local = to_frame(x, origin, turn)
    last = local[0, -1]
    assert abs(last[6].item()) < 1e-6 and abs(last[8].item()) < 1e-6
    assert last[7].item() == pytest.approx(x[0, -1, 7].item())  # height kept
    forward = last[ROOT_ROTATION].reshape(3, 3)[:, 2]
    assert abs(forward[0].item()) < 1e-6 and forward[2].item() > 0
    assert torch.allclose(from_frame(local, origin, turn), x, atol=1e-5)
    assert torch.equal(local[..., 18:], x[..., 18:])  # joints other than the root untouched


def test_root_frame_is_invariant_to_where_and_which_way_the_dance_happens():
    x = torch.from_numpy(random_motion(40, seed=1))[None]
    moved = turn_world(x, 73.0, (2.0, 0.0, -3.5))
    a = to_frame(x, *heading_frame(x[:, -1]))
    b = to_frame(moved, *heading_frame(moved[:, -1]))
    assert torch.allclose(a, b, atol=1e-5)


def zero_head(model: FACT) -> FACT:
    """``model`` with its output head zeroed: every output is 0, so a loss is its targets' mean square."""
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.zero_()
    return model


def zero_head_losses(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A zero head's steps loss and frames loss on the 240-frame window ``x (1, 240, 225)``
    (no context noise): the mean squares of the scaled steps and of the frames after the
    120-frame context, in the frame of its last frame."""
    local = to_frame(x, *heading_frame(x[:, 119]))
    steps = (((local[:, 120:140] - local[:, 119:139]) * STEP_SCALE) ** 2).mean()
    return steps, (local[:, 120:140] ** 2).mean()


def tiny_v2(**changes) -> FACTConfig:
    return dataclasses.replace(get_preset("tiny"), **{"root_frame": "last", "prediction": "steps",
                                                      "ground_input": False, **changes})


def test_steps_continue_from_the_last_frame():
    """Steps: an output of zero holds the last context frame, in world coordinates, so a chunk
    starts where the previous one ended."""
    model = zero_head(FACT(tiny_v2()))
    x = torch.from_numpy(random_motion(120, seed=2))[None]
    pred = model.predict(model.start(x, torch.zeros(1, 300, 35)), 20)
    assert torch.allclose(pred, x[:, -1:].expand(1, 20, 225), atol=1e-5)


def test_step_targets_close_the_gap_over_the_chunk():
    """From the frame the network was shown to the true frames: the first step is the true step
    (plus a 1/L share of the gap), and the path ends on the true frame."""
    true = torch.cumsum(torch.full((1, 20, 3), 0.01), dim=1)  # moves 1 cm per frame from 0
    clean, seen = torch.zeros(1, 1, 3), torch.full((1, 1, 3), 0.2)  # shown 20 cm off
    steps = step_targets(true, clean, seen) / STEP_SCALE
    path = seen + torch.cumsum(steps, dim=1)
    assert torch.allclose(path[:, -1], true[:, -1], atol=1e-6)  # back on the true path after one chunk
    assert torch.allclose(steps[0, 0], torch.tensor([0.01 - 0.2 / 20] * 3), atol=1e-6)  # no jump
    assert torch.all(torch.diff(torch.linalg.norm(path - true, dim=-1), dim=1) < 0)  # the gap shrinks
    assert torch.allclose(step_targets(true, clean, clean) / STEP_SCALE, torch.full((1, 20, 3), 0.01), atol=1e-6)


def test_v2_prediction_does_not_depend_on_where_the_dance_is():
    torch.manual_seed(0)
    model = FACT(tiny_v2()).eval()
    x = torch.from_numpy(random_motion(120, seed=3))[None]
    music = torch.randn(1, 300, 35)
    with torch.no_grad():
        a = model.predict(model.start(x, music), 20)
        moved = turn_world(x, -40.0, (5.0, 0.0, 1.0))
        b = model.predict(model.start(moved, music), 20)
    assert torch.allclose(turn_world(a, -40.0, (5.0, 0.0, 1.0)), b, atol=1e-4)


def test_world_model_is_unchanged_by_the_new_fields():
    """The released representation (the defaults) gives the network's raw output, as before (up to
    float rounding: the pass computes only the tokens kept, FACT.forward's n_out)."""
    torch.manual_seed(0)
    model = FACT(get_preset("tiny")).eval()
    x = torch.from_numpy(random_motion(120, seed=4))[None]
    music = torch.randn(1, 300, 35)
    with torch.no_grad():
        assert torch.allclose(model.predict(model.start(x, music), 5), model(x, music[:, :240])[:, :5], atol=1e-6)


def test_training_loss_uses_step_targets_in_the_root_frame():
    torch.manual_seed(0)
    model = zero_head(FACT(tiny_v2(ground_input=True))).train()
    x = torch.from_numpy(random_motion(240, seed=5))[None]
    # With a zero head the loss is the mean square of the scaled frame-to-frame steps, from the last
    # context frame on, in the frame of the last context frame.
    expected, _ = zero_head_losses(x)
    assert model.training_loss(x, torch.zeros(1, 240, 35)).item() == pytest.approx(expected.item(), rel=1e-5)
    # A dancer standing still: no steps to learn; with context noise the targets lead from the
    # noisy frame back to the still pose, so there are.
    still = x[:, :1].expand(1, 240, 225).contiguous()
    assert model.training_loss(still, torch.zeros(1, 240, 35)).item() == pytest.approx(0.0, abs=1e-9)
    noisy = zero_head(FACT(tiny_v2(ground_input=True, context_noise=0.5))).train()
    assert noisy.training_loss(still, torch.zeros(1, 240, 35)).item() > 1e-3


def test_the_path_so_far_is_hidden_from_the_network():
    """ground_input=False: two contexts that differ only in the root's path give the same prediction
    (no "keep going" feedback that could run away); with it shown they differ."""
    torch.manual_seed(0)
    x = torch.from_numpy(random_motion(120, seed=12))[None]
    other = x.clone()
    other[0, :-1, [6, 8]] += torch.linspace(-1.0, 0.0, 119)[:, None]  # came from 1 m away, same last frame
    music = torch.randn(1, 300, 35)
    for shown in (False, True):
        model = FACT(tiny_v2(ground_input=shown)).eval()
        with torch.no_grad():
            a = model.predict(model.start(x, music), 20)
            b = model.predict(model.start(other, music), 20)
        assert torch.allclose(a, b, atol=1e-6) != shown


def test_steps_are_summed_onto_the_last_frame():
    model = zero_head(FACT(tiny_v2()))
    with torch.no_grad():
        model.head.bias[6] = 0.01 * STEP_SCALE  # every step moves 1 cm along the dancer's x
    x = torch.from_numpy(random_motion(120, seed=11))[None]
    pred = model.predict(model.start(x, torch.zeros(1, 300, 35)), 5)
    moved = torch.linalg.norm(pred[0, :, [6, 8]] - x[0, -1, [6, 8]], dim=-1)
    assert torch.allclose(moved, 0.01 * torch.arange(1, 6, dtype=torch.float32), atol=1e-5)


# --- anchored prediction (fact-small-v3) ---------------------------------------------------------

def test_anchor_blend_keeps_the_steps_shape_and_ends_on_the_anchor():
    k = 20
    rng = torch.Generator().manual_seed(0)
    path = torch.cumsum(torch.full((1, k, 3), 0.01), dim=1)  # the steps' path: 1 cm per frame
    frames = path + 0.5 + 0.05 * torch.randn(1, k, 3, generator=rng)  # 50 cm off, and shaking
    out = anchor_blend(path, frames)
    assert torch.allclose(out[:, -1], frames[:, -1])  # the chunk ends on the anchor
    assert torch.allclose(out[:, 0], path[:, 0], atol=0.6 * 3 / k ** 2)  # and starts on the steps
    # Only a smooth offset is added: none of the frames' shaking, and (almost) no velocity at the
    # seams (smoothstep slope 0 at both ends), more in the middle.
    offset = out - path
    assert torch.all(torch.diff(offset[0, :, 0]) > 0)
    steps = torch.diff(torch.cat([torch.zeros(1, 1, 3), out], dim=1), dim=1)[0, :, 0]
    assert abs(steps[0].item() - 0.01) < 0.005 and abs(steps[-1].item() - 0.01) < 0.005
    assert steps[k // 2].item() > 0.03
    single = anchor_blend(path[:, :1], frames[:, :1])
    assert torch.allclose(single, frames[:, :1])  # one frame per step: the frame predicted outright


def tiny_v3(**changes) -> FACTConfig:
    return tiny_v2(prediction="anchored", **changes)


def test_anchored_model_has_two_heads_and_trains_both():
    torch.manual_seed(0)
    model = zero_head(FACT(tiny_v3(ground_input=True))).train()
    assert model.head.out_features == 2 * 225
    x = torch.from_numpy(random_motion(240, seed=5))[None]
    # With a zero head: the steps' loss (as for "steps") plus the frames' (their mean square).
    steps, frames = zero_head_losses(x)
    loss = model.training_loss(x, torch.zeros(1, 240, 35))
    assert loss.item() == pytest.approx((steps + frames).item(), rel=1e-5)
    loss.backward()
    assert model.head.weight.grad[:225].abs().sum() > 0 and model.head.weight.grad[225:].abs().sum() > 0


def test_anchored_chunk_leaves_the_context_for_the_predicted_frames():
    """Zero steps and a fixed frame: the chunk starts at the last context frame and ends on the
    frame predicted outright (in world coordinates)."""
    model = zero_head(FACT(tiny_v3()))
    with torch.no_grad():
        model.head.bias[225 + 6] = 0.4  # the frames head: 40 cm along the dancer's x, pose all zero
    x = torch.from_numpy(random_motion(120, seed=13))[None]
    pred = model.predict(model.start(x, torch.zeros(1, 300, 35)), 20)
    assert torch.linalg.norm(pred[0, 0, [6, 8]] - x[0, -1, [6, 8]]).item() < 0.4 * 3 / 400 + 1e-5
    assert torch.linalg.norm(pred[0, -1, [6, 8]] - x[0, -1, [6, 8]]).item() == pytest.approx(0.4, abs=1e-5)
    assert torch.allclose(pred[0, -1, 15:], torch.zeros(210), atol=1e-6)  # the pose: the frames head's


def test_speed_matching_asks_how_much_not_which_way():
    """Each joint's mean speed over the chunk: the same speeds in other directions cost nothing,
    half the speed does."""
    torch.manual_seed(0)
    true = torch.randn(2, 20, 225)
    true[..., :6] = 0
    flipped = -true  # every step the other way
    assert speed_matching_loss(flipped, true).item() == pytest.approx(0.0, abs=1e-10)
    assert speed_matching_loss(0.5 * true, true).item() > 0.1
    # (MSE prefers the shrunken steps: the flipped ones cost four times as much.)
    assert F_mse(0.5 * true, true) < F_mse(flipped, true)


def F_mse(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b) ** 2).mean().item()


def test_speed_loss_needs_steps_and_adds_to_the_loss():
    with pytest.raises(ValueError, match="speed_loss"):
        dataclasses.replace(get_preset("tiny"), speed_loss=0.1)  # frames
    with pytest.raises(ValueError, match="speed_loss"):
        tiny_v3(speed_loss=-1.0)
    torch.manual_seed(0)
    x = torch.from_numpy(random_motion(240, seed=5))[None]
    audio = torch.zeros(1, 240, 35)
    plain, weighted = FACT(tiny_v3()).eval(), FACT(tiny_v3(speed_loss=0.5)).eval()
    weighted.load_state_dict(plain.state_dict())
    with torch.no_grad():
        assert weighted.training_loss(x, audio).item() > plain.training_loss(x, audio).item()


def test_context_noise_is_smooth_spares_the_pad_and_only_trains():
    torch.manual_seed(0)
    ctx = torch.zeros(64, 120, 225)
    noise = context_noise(ctx, 0.02)
    assert torch.all(noise[..., :6] == 0)
    assert 0.015 < noise[..., 6:].std().item() < 0.04
    # Mostly a slow offset: neighbouring frames are strongly correlated.
    a, b = noise[:, 1:, 6:].flatten(), noise[:, :-1, 6:].flatten()
    assert torch.corrcoef(torch.stack([a, b]))[0, 1] > 0.7
    model = FACT(tiny_v2(context_noise=0.05))
    x = torch.from_numpy(random_motion(240, seed=6))[None]
    audio = torch.zeros(1, 240, 35)
    model.eval()
    assert model.training_loss(x, audio).item() == model.training_loss(x, audio).item()
    model.train()
    assert model.training_loss(x, audio).item() != model.training_loss(x, audio).item()


@pytest.mark.parametrize("bad", [{"prediction": "offsets"}, {"context_noise": -0.1}, {"context_noise": 1.5},
                                 {"root_frame": "first"}, {"ground_input": 0},
                                 {"root_frame": "world", "prediction": "frames", "ground_input": False}])
def test_v2_fields_are_checked(bad):
    with pytest.raises(ValueError):
        tiny_v2(**bad)


def test_causal_attention_refuses_the_last_frame_representation():
    with pytest.raises(ValueError, match="causal"):
        dataclasses.replace(get_preset("fact-small-causal"), prediction="steps")


@pytest.mark.parametrize("name,prediction", [("fact-small-v2", "steps"), ("fact-small-v3", "anchored")])
def test_v2_and_v3_presets_train_with_augmentation(name, prediction):
    from aichoreo.models import get_preset_training

    training = get_preset_training(name)
    assert training["mirror"] is True and training["tempo_stretch"] == 0.15
    cfg = get_preset(name)
    assert (cfg.root_frame, cfg.prediction, cfg.ground_input) == ("last", prediction, False)
    assert cfg.context_noise > 0
    TrainConfig(**training)  # valid


# --- augmentation -------------------------------------------------------------------------------

def test_mirror_swaps_sides_and_is_its_own_inverse():
    x = random_motion(30, seed=7)
    m = mirror_motion(x)
    assert np.array_equal(mirror_motion(m), x)
    for i, name in enumerate(JOINT_NAMES):
        if name.startswith("left_"):
            assert JOINT_NAMES[MIRROR_JOINTS[i]] == "right_" + name[5:]
    # A real-looking pose: a raised left arm becomes a raised right arm, the root moves to -x.
    rots = np.tile(np.eye(3, dtype=np.float32), (1, 24, 1, 1))
    rots[0, JOINT_NAMES.index("left_shoulder")] = Rotation.from_euler("z", 80, degrees=True).as_matrix()
    motion = SMPLMotion(rotations=rots, translation=np.array([[0.5, 0.9, 0.0]], np.float32))
    joints = motion.joints()[0]
    mirrored = SMPLMotion.from_fact_vector(mirror_motion(motion.to_fact_vector(padded=True))).joints()[0]
    lw, rw = JOINT_NAMES.index("left_wrist"), JOINT_NAMES.index("right_wrist")
    assert mirrored[rw, 1] == pytest.approx(joints[lw, 1], abs=0.03)  # same height, other side
    assert mirrored[rw, 0] == pytest.approx(-joints[lw, 0], abs=0.03)
    assert mirrored[0, 0] == pytest.approx(-joints[0, 0], abs=0.01)


def test_retime_at_rate_one_is_a_slice_and_faster_windows_read_further():
    x = random_motion(200, seed=8)
    assert np.allclose(retime_motion(x, 10, 1.0, 50), x[10:60])
    fast = retime_motion(x, 10, 1.5, 50)
    assert np.allclose(fast[2], x[13]) and np.allclose(fast[1], 0.5 * x[11] + 0.5 * x[12])


def test_retimed_music_keeps_its_beats_as_events():
    music = np.random.default_rng(0).normal(size=(400, 35)).astype(np.float32)
    music[:, [ONSET_PEAKS, BEATS]] = 0.0
    music[::30, BEATS] = 1.0  # 120 bpm at 60 fps
    music[5::15, ONSET_PEAKS] = 1.0
    fast = retime_music(music, 0, 1.2, 240)
    beats = np.flatnonzero(fast[:, BEATS])
    assert set(np.unique(fast[:, [ONSET_PEAKS, BEATS]])) <= {0.0, 1.0}
    assert np.allclose(np.diff(beats), 25, atol=1)  # 30 frames / 1.2: the tempo is 1.2 x faster
    slow = retime_music(music, 0, 0.85, 240)
    assert len(np.flatnonzero(slow[:, BEATS])) == len(np.flatnonzero(music[:int(239 * 0.85) + 1, BEATS]))


def test_augmented_windows_are_deterministic_and_fit_short_sequences():
    seqs = [(random_motion(300, seed=9)[:, FACT_PAD:], np.random.default_rng(1).normal(size=(300, 35))),
            (random_motion(245, seed=10)[:, FACT_PAD:], np.random.default_rng(2).normal(size=(245, 35)))]
    plain = RandomWindows(seqs, window_len=240, motion_frames=140, audio_frames=240, seed=3)
    aug = RandomWindows(seqs, window_len=240, motion_frames=140, audio_frames=240, seed=3,
                        mirror=True, tempo_stretch=0.15)
    flips, rates = [], []
    for i in range(60):
        w = aug[i]
        assert w["motion"].shape == (140, 225) and w["audio"].shape == (240, 35)
        assert torch.equal(w["motion"], aug[i]["motion"])  # a pure function of (seed, index)
        _, _, rate, flip = aug._draw(i)
        flips.append(flip)
        rates.append(rate)
    assert 10 < sum(flips) < 50 and min(rates) < 0.95 and max(rates) > 1.0
    assert all(r <= 244 / 239 + 1e-9 for (s, _, r, _) in (aug._draw(i) for i in range(60)) if s == 1)
    assert torch.equal(plain[0]["motion"], torch.from_numpy(plain.motions[plain.locate(0)[0]][
        plain.locate(0)[1]: plain.locate(0)[1] + 140]))
    with pytest.raises(ValueError):
        RandomWindows(seqs, window_len=240, motion_frames=140, audio_frames=240, tempo_stretch=0.6)
