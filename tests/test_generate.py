"""Autoregressive generation: lengths, window alignment, fast mode, projection, batches."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from aichoreo.generate import clean_frames, generate, generate_motion, n_generable_frames
from aichoreo.models import build_model, get_preset
from aichoreo.motion import SMPLMotion


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model(get_preset("tiny"))


def song(n_frames: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n_frames, 35)).astype(np.float32)


def seed_motion(seed: int = 0, dim: int = 225) -> np.ndarray:
    x = np.random.default_rng(100 + seed).normal(size=(120, dim)).astype(np.float32)
    if dim == 225:
        x[:, :6] = 0
    return x


def reference_loop(model, music: np.ndarray, seed: np.ndarray, steps: int) -> np.ndarray:
    """mint FACTModel.infer_auto_regressive written out: keep token 0, raw feedback."""
    motion = torch.from_numpy(seed)[None]
    audio = torch.from_numpy(music)[None]
    out = []
    with torch.no_grad():
        for i in range(steps):
            window = audio[:, i: i + 240]
            if window.shape[1] < 240:
                break
            frame = model(motion, window)[:, :1]
            out.append(frame)
            motion = torch.cat([motion[:, 1:], frame], dim=1)
    return torch.cat(out, dim=1)[0].numpy()


def is_rotation(r: np.ndarray, atol: float = 1e-5) -> bool:
    gram = np.swapaxes(r, -1, -2) @ r
    return np.allclose(gram, np.eye(3), atol=atol) and np.allclose(np.linalg.det(r), 1.0, atol=atol)


def test_output_is_seed_plus_n_frames(model):
    seed = seed_motion()
    out = generate(model, song(300), seed, 25)
    assert out.shape == (145, 225) and out.dtype == np.float32
    np.testing.assert_array_equal(out[:120], seed)


def test_seed_of_219_is_zero_padded(model):
    seed219 = seed_motion(dim=219)
    out = generate(model, song(260), seed219, 3)
    np.testing.assert_array_equal(out[:120, :6], 0)
    np.testing.assert_array_equal(out[:120, 6:], seed219)
    padded = np.concatenate([np.zeros((120, 6), np.float32), seed219], axis=1)
    np.testing.assert_array_equal(generate(model, song(260), padded, 3), out)


def test_faithful_mode_is_the_released_loop(model):
    music, seed = song(270), seed_motion()
    out = generate(model, music, seed, None, project_rotations=False)
    ref = reference_loop(model, music, seed, 1200)
    assert ref.shape == (31, 225)  # 270 - 240 + 1 steps
    np.testing.assert_allclose(out[120:], ref, rtol=1e-5, atol=1e-5)


def test_stops_when_the_music_runs_out(model):
    assert n_generable_frames(300) == 61 and n_generable_frames(240) == 1 and n_generable_frames(239) == 0
    assert generate(model, song(300), seed_motion()).shape == (120 + 61, 225)
    assert generate(model, song(300), seed_motion(), 1000).shape == (120 + 61, 225)
    assert generate(model, song(300), seed_motion(), 0).shape == (120, 225)
    with pytest.raises(ValueError, match="at least audio_len = 240"):
        generate(model, song(239), seed_motion())


@pytest.mark.parametrize("k", [1, 7, 20])
def test_frames_per_step_gives_the_same_length(model, k):
    music, seed = song(300), seed_motion()
    assert generate(model, music, seed, 45, frames_per_step=k).shape == (165, 225)
    assert generate(model, music, seed, None, frames_per_step=k).shape == (181, 225)


def test_fast_mode_keeps_the_first_k_future_tokens(model):
    music, seed = song(280), seed_motion()
    k = 7
    out = generate(model, music, seed, 2 * k, frames_per_step=k, project_rotations=False)
    with torch.no_grad():
        first = model(torch.from_numpy(seed)[None], torch.from_numpy(music[:240])[None])[0, :k].numpy()
        context = np.concatenate([seed[k:], first])
        second = model(torch.from_numpy(context)[None], torch.from_numpy(music[k: k + 240])[None])[0, :k].numpy()
    np.testing.assert_allclose(out[120: 120 + k], first, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out[120 + k:], second, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match=r"frames_per_step must be an integer in \[1, 20\]"):
        generate(model, music, seed, 5, frames_per_step=21)


def test_projection_yields_orthonormal_rotations(model):
    music, seed = song(260), seed_motion()
    out = generate(model, music, seed, 15)
    rot = out[120:, 9:].reshape(15, 24, 3, 3)
    assert is_rotation(rot)
    np.testing.assert_array_equal(out[120:, :6], 0)
    raw = generate(model, music, seed, 15, project_rotations=False)
    assert not is_rotation(raw[120:, 9:].reshape(15, 24, 3, 3), atol=1e-2)  # an untrained net's raw output
    # The first frame differs only by the cleaning; translation is kept as predicted.
    np.testing.assert_allclose(out[120], clean_frames(torch.from_numpy(raw[120])).numpy(), atol=1e-6)
    np.testing.assert_allclose(out[120, 6:9], raw[120, 6:9], atol=1e-6)


def test_batched_generation_equals_per_song(model):
    musics = np.stack([song(280, seed=i) for i in range(3)])
    seeds = np.stack([seed_motion(seed=i) for i in range(3)])
    batched = generate(model, musics, seeds, 20, frames_per_step=4)
    assert batched.shape == (3, 140, 225)
    for i in range(3):
        single = generate(model, musics[i], seeds[i], 20, frames_per_step=4)
        np.testing.assert_allclose(batched[i], single, rtol=1e-4, atol=1e-5)
    assert np.abs(batched[0, 120:] - batched[1, 120:]).max() > 1e-3
    with pytest.raises(ValueError, match="3 songs but 2 seeds"):
        generate(model, musics, seeds[:2], 5)


def test_accepts_tensors_and_restores_training_mode(model):
    music, seed = song(250), seed_motion()
    model.train()
    out = generate(model, torch.from_numpy(music), torch.from_numpy(seed), 4)
    assert model.training
    model.eval()
    np.testing.assert_array_equal(out, generate(model, music, seed, 4))


def test_bad_inputs_are_rejected(model):
    with pytest.raises(ValueError, match=r"seed_motion must have shape \(120, 225\)"):
        generate(model, song(300), seed_motion()[:100])
    with pytest.raises(ValueError, match=r"music_features must have shape \(T_audio, 35\)"):
        generate(model, song(300)[:, :20], seed_motion())
    nan_seed = seed_motion()
    nan_seed[5, 10] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        generate(model, song(300), nan_seed)


def test_causal_model_predicts_from_the_last_motion_token():
    torch.manual_seed(0)
    causal = build_model(dataclasses.replace(get_preset("fact-causal"), d_model=16, n_heads=2, d_mlp=32,
                                             motion_layers=1, audio_layers=1, cross_layers=1))
    music, seed = song(250), seed_motion()
    out = generate(causal, music, seed, 3, project_rotations=False)
    with torch.no_grad():
        expected = causal(torch.from_numpy(seed)[None], torch.from_numpy(music[:240])[None])[0, 119].numpy()
    np.testing.assert_allclose(out[120], expected, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match=r"in \[1, 1\]"):
        generate(causal, music, seed, 3, frames_per_step=2)


def test_generate_motion_returns_an_smpl_motion(model):
    music, seed = song(260), seed_motion()
    seed[:, 9:] = np.tile(np.eye(3, dtype=np.float32).reshape(1, 9), (120, 24))  # identity pose
    motion = generate_motion(model, music, seed, 10)
    assert isinstance(motion, SMPLMotion) and len(motion) == 130 and motion.fps == 60.0
    x = generate(model, music, seed, 10)
    np.testing.assert_allclose(motion.rotations[120:], x[120:, 9:].reshape(10, 24, 3, 3), atol=1e-5)
    np.testing.assert_allclose(motion.translation, x[:, 6:9], atol=1e-6)
    again = generate_motion(model, music, motion.slice(0, 120), 10)
    np.testing.assert_allclose(again.rotations, motion.rotations, atol=1e-5)
    with pytest.raises(ValueError, match="one song"):
        generate_motion(model, music[None], seed[None], 10)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu():
    torch.manual_seed(0)
    model = build_model(get_preset("tiny"))
    music, seed = song(260), seed_motion()
    cpu = generate(model, music, seed, 10)
    gpu = generate(model, music, seed, 10, device="cuda")
    np.testing.assert_allclose(gpu, cpu, rtol=1e-3, atol=1e-3)


# --- the pipeline every command uses -----------------------------------------------------------

def _v2_model():
    torch.manual_seed(1)
    return build_model(dataclasses.replace(get_preset("tiny"), root_frame="last", prediction="steps"))


@pytest.mark.parametrize("lock_feet", [False, True])
def test_generate_dances_batched_equals_one_by_one(lock_feet):
    from aichoreo.generate import generate_dances
    from aichoreo.seeds import bounce_seed

    model = _v2_model()
    songs = [song(300, 1), song(420, 2), song(260, 3)]
    seeds = [bounce_seed(120, 100.0 + 10 * i, i) for i in range(3)]
    together = generate_dances(model, songs, seeds, frames_per_step=20, lock_feet=lock_feet, batch_size=3)
    for i, motion in enumerate(together):
        alone = generate_dances(model, [songs[i]], [seeds[i]], frames_per_step=20, lock_feet=lock_feet)[0]
        assert isinstance(motion, SMPLMotion) and len(motion) == len(songs[i])  # the dance lasts as long as its song
        np.testing.assert_allclose(motion.rotations, alone.rotations, atol=2e-4)
        np.testing.assert_allclose(motion.translation, alone.translation, atol=2e-4)
        if not lock_feet:  # (the foot lock holds the seed's planted feet too)
            np.testing.assert_allclose(motion.rotations[:120], seeds[i].rotations, atol=1e-5)  # the seed comes first


def test_generate_dances_frames_and_errors(model):
    from aichoreo.generate import extend_music, generate_dances

    seed = seed_motion(0)
    longer = generate_dances(model, [song(250)], [seed], frames=[400], lock_feet=False)[0]
    assert len(longer) == 400  # past the song's end the music is mirrored
    with pytest.raises(ValueError, match="seed"):
        generate_dances(model, [song(250)], [seed], frames=[100], lock_feet=False)
    with pytest.raises(ValueError, match="songs but"):
        generate_dances(model, [song(250)], [seed, seed], lock_feet=False)
    music = song(50)
    ext = extend_music(music, 10, 75)
    np.testing.assert_array_equal(ext[:50], music)
    np.testing.assert_array_equal(ext[50:60], music[::-1][:10])
    assert len(ext) == 75 and np.array_equal(extend_music(music, 10, 75)[:60], extend_music(music, 10)[:60])


def test_generate_dances_projects_once_seed_included(model):
    """The pipeline projects every frame in the loop (the seed before it), not again at the end:
    a raw seed (not rotations) still comes out as rotations."""
    from aichoreo.generate import generate_dances

    seed = seed_motion(3)  # random numbers, not rotation matrices
    motion = generate_dances(model, [song(300)], [seed], frames_per_step=20, lock_feet=False)[0]
    assert is_rotation(motion.rotations.astype(np.float64), atol=1e-4)
    x = motion.to_fact_vector(padded=True)
    again = SMPLMotion.from_fact_vector(x, project=False)
    np.testing.assert_array_equal(again.rotations.reshape(len(x), -1), x[:, 9:])  # taken as they are
    np.testing.assert_allclose(again.rotations, SMPLMotion.from_fact_vector(x).rotations, atol=1e-6)
    with pytest.raises(ValueError, match="not rotation matrices"):  # unprojected ones are refused
        SMPLMotion.from_fact_vector(seed, project=False)


def test_seam_easer_joins_a_jumping_chunk_to_the_frames_before():
    from aichoreo.data.fixtures import dance_pose
    from aichoreo.generate import SeamEaser
    from aichoreo.motion import SMPLMotion
    from aichoreo.rotations import axis_angle_to_matrix

    poses, transl = dance_pose(160, 120.0, np.random.default_rng(1), fps=60.0)
    x = SMPLMotion(axis_angle_to_matrix(poses), transl, 60.0).to_fact_vector(padded=True)
    seed, chunk = x[:120], x[120:140].copy()
    chunk[:, 6:9] += np.array([0.1, 0.0, 0.0], np.float32)  # the next chunk jumps 10 cm sideways
    easer = SeamEaser(seed, 4)
    eased = easer.ease(chunk)
    step = lambda a, b: float(np.abs(a[6:9] - b[6:9]).max())  # noqa: E731
    assert step(chunk[0], seed[-1]) > 0.09  # as predicted: a 10 cm jump into the chunk
    assert step(eased[0], seed[-1]) < 0.02  # eased: the jump spread over the first frames
    steps = [step(eased[0], seed[-1])] + [step(eased[i + 1], eased[i]) for i in range(4)]
    assert max(steps) < 0.045, steps  # (smoothstep over 4 frames: about 1, 3.5, 3.5, 1 cm)
    np.testing.assert_array_equal(eased[4:], chunk[4:])  # after the 4 eased frames, the prediction itself
    rot = eased[:, 9:].reshape(20, 24, 3, 3)
    np.testing.assert_allclose(rot @ np.swapaxes(rot, -1, -2), np.broadcast_to(np.eye(3), rot.shape), atol=1e-5)
    easer.record(eased)
    np.testing.assert_array_equal(easer.history[-1], eased[-1])


def test_seam_easer_over_the_whole_chunk_keeps_position_and_speed_and_the_chunks_own_motion():
    from aichoreo.data.fixtures import dance_pose
    from aichoreo.generate import SEAM_EASE_FRAMES, SeamEaser
    from aichoreo.motion import SMPLMotion
    from aichoreo.rotations import axis_angle_to_matrix

    poses, transl = dance_pose(160, 120.0, np.random.default_rng(2), fps=60.0)
    x = SMPLMotion(axis_angle_to_matrix(poses), transl, 60.0).to_fact_vector(padded=True).astype(np.float64)
    seed, truth = x[:120], x[120:140]
    chunk = truth.copy()
    chunk[:, 6:9] += np.array([0.1, 0.0, -0.05])  # the next chunk starts 11 cm off, a still offset
    chunk[:, 6:9] += np.arange(20)[:, None] * np.array([0.0, 0.0, 0.004])  # and moves 24 cm/s faster
    eased = SeamEaser(seed, SEAM_EASE_FRAMES).ease(chunk.astype(np.float32)).astype(np.float64)
    root = np.concatenate([seed[-3:, 6:9], eased[:, 6:9]])
    velocity = np.diff(root, axis=0)  # m per frame
    # continuous: the first steps are the seed's own (the motion carried on), no jump, no kink
    np.testing.assert_allclose(velocity[2], truth[0, 6:9] - seed[-1, 6:9], atol=2e-3)
    np.testing.assert_allclose(velocity[3], truth[1, 6:9] - truth[0, 6:9], atol=2e-3)
    assert np.abs(np.diff(velocity, axis=0)).max() < 0.004  # the 11 cm spread over 20 frames
    # the correction fades to none: the last frame is the prediction's, the chunk's own motion kept
    np.testing.assert_allclose(eased[-1, 6:9], chunk[-1, 6:9], atol=2e-3)
    # rotations join the same way: the eased first frame is the seed's last turned on one frame at
    # its angular velocity over the last 6 frames, and the last frame is the prediction's
    from aichoreo.motion import rotation_exp, rotation_log

    last, before = seed[-1, 9:].reshape(24, 3, 3), seed[-7, 9:].reshape(24, 3, 3)
    carried = last @ rotation_exp(rotation_log(np.swapaxes(before, -1, -2) @ last) / 6)
    rot = eased[:, 9:].reshape(20, 24, 3, 3)
    np.testing.assert_allclose(rot[0], carried, atol=1e-5)
    np.testing.assert_allclose(rot[-1], chunk[-1, 9:].reshape(24, 3, 3), atol=0.01)


def test_room_keeper_shows_the_model_its_root_within_the_radius():
    torch.manual_seed(0)
    model = build_model(get_preset("tiny"))
    music = song(400)
    seed = seed_motion(4)
    seed[:, 6:9] = 0.0
    seed[:, 6] = np.linspace(0.0, 5.0, 120)  # the seed travels 5 m along x
    k = model.config.n_future
    kept = generate(model, music, seed, n_frames=k, frames_per_step=k, room_radius=3.0)
    # the model was shown the context 2 m back (last frame at the radius) and its frames moved on by 2 m
    moved = seed.copy()
    moved[:, 6] -= 2.0
    shown = generate(model, music, moved, n_frames=k, frames_per_step=k)
    np.testing.assert_allclose(kept[120:, 6], shown[120:, 6] + 2.0, atol=1e-5)
    np.testing.assert_allclose(kept[120:, 7:], shown[120:, 7:], atol=1e-5)
    # within the radius nothing changes, bit for bit
    near = seed.copy()
    near[:, 6] *= 0.5  # 2.5 m
    np.testing.assert_array_equal(generate(model, music, near, n_frames=2 * k, frames_per_step=k, room_radius=3.0),
                                  generate(model, music, near, n_frames=2 * k, frames_per_step=k))
    with pytest.raises(ValueError, match="room_radius"):
        generate(model, music, seed, n_frames=k, room_radius=-1.0)


def test_the_room_is_the_models_own_unless_told():
    from aichoreo.generate import generate_dances, model_room
    from aichoreo.models import FACTConfig
    from aichoreo.models.fact import FACT

    torch.manual_seed(0)
    cfg = dataclasses.replace(get_preset("tiny"), room_radius=3.0)
    model = build_model(cfg)
    seed = seed_motion(4)
    seed[:, 6:9] = 0.0
    seed[:, 6] = np.linspace(0.0, 5.0, 120)  # ends 5 m from where it starts
    music = [song(200)]

    def dance(**kw):
        return generate_dances(model, music, [seed], lock_feet=False, **kw)[0].translation

    own = dance()
    np.testing.assert_array_equal(own, dance(room_radius=3.0))
    assert np.abs(own - dance(room_radius=0)).max() > 1e-3  # 0: shown wherever it is
    assert model_room(cfg) == 3.0 and model_room(cfg, 0) is None and model_room(get_preset("tiny")) is None
    with pytest.raises(ValueError, match="room_radius"):
        FACTConfig(room_radius=-1.0)
    with pytest.raises(ValueError, match="root_frame 'world'"):
        dataclasses.replace(get_preset("fact-small-v2"), room_radius=3.0)
    assert isinstance(model, FACT)


def test_the_bundled_default_model_keeps_its_room():
    from aichoreo.models import load_model

    _, cfg, _ = load_model("default")
    assert cfg.room_radius == 3.0  # chosen on the validation songs (docs/results.md, "Seams and shaking")


def test_the_first_chunk_can_be_joined_over_longer_than_a_chunk():
    """A continuation's first chunk is joined to the given dance over 1 s (SeamEaser's ``first``):
    the correction is part-way at the chunk's end, its acceleration at the seam is about a ninth of
    a one-chunk join's (6 offset / n^2 per frame^2), and later chunks are joined over ``n``."""
    from aichoreo.data.fixtures import dance_pose
    from aichoreo.generate import SeamEaser
    from aichoreo.motion import SMPLMotion
    from aichoreo.rotations import axis_angle_to_matrix

    poses, transl = dance_pose(180, 120.0, np.random.default_rng(4), fps=60.0)
    x = SMPLMotion(axis_angle_to_matrix(poses), transl, 60.0).to_fact_vector(padded=True).astype(np.float64)
    seed, chunk = x[:120], x[120:140].copy()
    chunk[:, 6:9] += np.array([0.3, 0.0, 0.0])  # 30 cm off

    def root_acceleration(eased):
        root = np.concatenate([seed[-2:, 6:9], eased[:3, 6:9]])
        return np.abs(root[2:] - 2 * root[1:-1] + root[:-2]).max()

    short = SeamEaser(seed, 20).ease(chunk.astype(np.float32)).astype(np.float64)
    easer = SeamEaser(seed, 20, first=60)
    long = easer.ease(chunk.astype(np.float32)).astype(np.float64)
    assert root_acceleration(long) < 0.2 * root_acceleration(short)
    # at the chunk's end the 1 s correction has a good part of the offset left (Hermite at 1/3: 0.74)
    assert 0.15 < chunk[-1, 6] - long[-1, 6] < 0.3  # pulled back toward the seed
    assert abs(short[-1, 6] - chunk[-1, 6]) < 0.01
    easer.record(long)
    later = x[140:160].copy()
    later[:, 6:9] += np.array([0.3, 0.0, 0.0])
    again = easer.ease(later.astype(np.float32)).astype(np.float64)  # the next chunk: over 20 frames
    np.testing.assert_allclose(again[-1, 6:9], later[-1, 6:9], atol=5e-3)  # faded out within the chunk


def test_a_given_seed_is_carried_on_at_its_velocity_at_its_last_frame():
    """A continuation's seed is a real dance that speeds up and slows down: its first chunk carries
    on at the velocity the seed has at its last frame (a quadratic fit), where the mean over the
    last 0.1 s lags and leaves a kink at the seam. Here a joint turns and the root moves with a
    constant acceleration ``a`` per frame^2; carried on at the right velocity, the seam's second
    difference is ``a`` or less, with the mean it is 5 ``a``. Later chunks use the mean again."""
    from aichoreo.generate import SeamEaser
    from aichoreo.motion import SMPLMotion
    from aichoreo.rotations import axis_angle_to_matrix

    a, n = 2e-5, 160
    t = np.arange(n, dtype=np.float64)
    aa = np.zeros((n, 24, 3))
    aa[:, 18, 2] = a * t ** 2  # the left elbow: radians
    translation = np.zeros((n, 3))
    translation[:, 0] = a * t ** 2  # metres
    x = SMPLMotion(axis_angle_to_matrix(aa), translation, 60.0).to_fact_vector(padded=True).astype(np.float64)
    seed, chunk = x[:120], x[120:140].copy()

    def seam_kink(eased: np.ndarray) -> tuple[float, float]:  # root (m) and elbow (rad) per frame^2
        root = np.concatenate([seed[-2:, 6:9], eased[:1, 6:9]])[:, 0]
        rot = np.concatenate([seed[-2:], eased[:1]])[:, 9:].reshape(3, 24, 3, 3)[:, 18]
        angle = np.arctan2(rot[:, 1, 0], rot[:, 0, 0])
        return abs(root[2] - 2 * root[1] + root[0]), abs(angle[2] - 2 * angle[1] + angle[0])

    given = SeamEaser(seed, 20, given=True)
    assert max(seam_kink(given.ease(chunk.astype(np.float32)).astype(np.float64))) < 1.2 * a
    assert min(seam_kink(SeamEaser(seed, 20).ease(chunk.astype(np.float32)).astype(np.float64))) > 4 * a
    assert not given.given  # the next chunks are joined as any other


def test_a_foot_planted_before_the_keyframes_bend_stays_planted():
    """Keyframes bend the generated dance after generation; a foot planted in the dance as generated
    is held where it stands while the bend moves it (generate.feet_locked), where the bent dance
    alone would see it slide and let it go."""
    from aichoreo.generate import feet_locked
    from aichoreo.motion import SMPLMotion
    from aichoreo.rotations import axis_angle_to_matrix
    from aichoreo.skeleton import JOINT_NAMES

    n = 240
    poses = np.zeros((n, 24, 3))
    standing = SMPLMotion(axis_angle_to_matrix(poses), np.zeros((n, 3)), 60.0)  # both feet planted
    hip, ankle = JOINT_NAMES.index("left_hip"), JOINT_NAMES.index("left_ankle")
    bend = np.clip((np.arange(n) - 140) / 20, 0, 1) * np.radians(10)  # over 1/3 s, to 10 degrees
    poses[:, hip, 2] = bend  # the leg swings out sideways: the ankle slides about 14 cm
    bent = SMPLMotion(axis_angle_to_matrix(poses), np.zeros((n, 3)), 60.0)

    def slide(m):  # how far the left ankle moves over the floor from before the bend to the end
        a = m.joints()[:, ankle]
        return float(np.linalg.norm(a[-1, [0, 2]] - a[130, [0, 2]]))

    assert slide(bent) > 0.1
    assert slide(feet_locked(bent, bent, 120)) > 0.1  # the bent dance alone: the foot lands elsewhere
    assert slide(feet_locked(bent, standing, 120)) < 0.02  # planted before the bend: held
    # no keyframes: the same as before this rule (contacts of the dance itself)
    from aichoreo.footlock import keep_on_floor, lock_feet, lowest_foot

    floor = float(lowest_foot(standing.joints()[:120]).mean())
    np.testing.assert_array_equal(feet_locked(standing, standing, 120).rotations,
                                  lock_feet(keep_on_floor(standing, floor)).rotations)


def test_feet_locked_holds_feet_a_kept_motion_plants():
    """A crouched dancer whose root slides 12 cm in a third of a second: too fast for its feet to
    count as planted, so the lock leaves them sliding; told that the feet are planted (a kept
    motion's contacts, ``--keep upper``), it holds the ankles still."""
    from aichoreo.footlock import foot_contacts
    from aichoreo.generate import feet_locked
    from aichoreo.rotations import axis_angle_to_matrix

    n = 20
    aa = np.zeros((n, 24, 3))
    aa[:, (1, 2), 0], aa[:, (4, 5), 0], aa[:, (7, 8), 0] = -0.4, 0.8, -0.4  # knees bent, feet flat
    translation = np.zeros((n, 3))
    translation[:, 0] = np.linspace(0.0, 0.12, n)  # 0.38 m/s
    motion = SMPLMotion(axis_angle_to_matrix(aa), translation, 60.0)
    assert not foot_contacts(motion.joints(), fps=60.0).any()

    def ankle_travel(m: SMPLMotion) -> float:
        ankles = m.joints()[:, (7, 8)][..., [0, 2]]
        return float(np.linalg.norm(ankles - ankles[:1], axis=-1).max())

    assert ankle_travel(feet_locked(motion, motion, 10)) > 0.11
    held = feet_locked(motion, motion, 10, np.ones((n + 5, 2), dtype=bool))  # longer labels are cut
    assert ankle_travel(held) < 0.01
    np.testing.assert_allclose(held.rotations[:, 16:], motion.rotations[:, 16:], atol=1e-6)  # arms untouched


def test_feet_locked_leaves_a_given_seed_as_it_is():
    """A continuation's seed is the user's dance: the clean-up leaves it as it is and fades its
    corrections in after it, so the new frames go on from the given dance's end without a jump.
    Here the dancer floats up 10 cm in the second after the seed; the floor correction, low-passed
    over a second, would reach back into the seed."""
    from aichoreo.generate import GIVEN_SEED_FADE, feet_locked
    from aichoreo.motion import SMPLMotion
    from aichoreo.rotations import axis_angle_to_matrix

    n, seed = 300, 120
    aa = np.zeros((n, 24, 3))
    aa[:, 16, 2] = np.sin(np.arange(n) / 10)  # an arm waves: not every frame alike
    translation = np.zeros((n, 3))
    translation[:, 1] = np.clip((np.arange(n) - seed) / 60, 0, 1) * 0.10
    motion = SMPLMotion(axis_angle_to_matrix(aa), translation, 60.0)

    plain = feet_locked(motion, motion, seed)
    assert np.abs(plain.translation[:seed] - translation[:seed]).max() > 0.005  # the seed's end moved
    given = feet_locked(motion, motion, seed, given_seed=True)
    np.testing.assert_array_equal(given.rotations[:seed], motion.rotations[:seed])
    np.testing.assert_array_equal(given.translation[:seed], motion.translation[:seed])
    after = seed + GIVEN_SEED_FADE
    np.testing.assert_allclose(given.rotations[after:], plain.rotations[after:], atol=1e-6)
    np.testing.assert_allclose(given.translation[after:], plain.translation[after:], atol=1e-6)

    def accel(m: SMPLMotion) -> np.ndarray:  # (T - 2,) mean joint acceleration, metres per frame^2
        j = m.joints().astype(np.float64)
        return np.linalg.norm(j[2:] - 2 * j[1:-1] + j[:-2], axis=-1).mean(-1)

    seam = slice(seed - 3, seed + 1)  # the accelerations of frames seed - 2 .. seed + 1
    # Going on from the seed's moved end instead: a jump as large as the float-up's own kink at the seam.
    plain_seam = np.linalg.norm(plain.joints()[seed] - motion.joints()[seed - 1], axis=-1).mean()
    assert plain_seam > 0.01
    assert accel(given)[seam].max() < 1.5 * accel(motion)[seam].max() + 1e-4
    assert accel(given)[seed:after].max() < 3 * accel(motion)[seed - 60:after].max()  # the fade-in is gentle
