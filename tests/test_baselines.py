"""The three baselines of the paper's Table 1: Li et al. 2020, DanceNet, DanceRevolution.

Shapes and configs, causality, the discretisation and the curriculum, a tiny model of each that
overfits one clip, model files, and generation end to end (library and ``aichoreo dance``).
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import soundfile as sf
import torch
import torch.nn.functional as F

from aichoreo.cli import main
from aichoreo.conventions import current_conventions
from aichoreo.data.fixtures import click_track
from aichoreo.generate import generate
from aichoreo.models import (
    DanceNet,
    DanceNetConfig,
    DanceRevolution,
    DanceRevolutionConfig,
    Li2020,
    Li2020Config,
    build_model,
    count_parameters,
    get_preset,
    get_preset_training,
    load_model_file,
    model_name,
    save_model_file,
)
from aichoreo.models.dancerevolution import LocalSelfAttention
from aichoreo.motion import SMPLMotion
from aichoreo.rotations import axis_angle_to_matrix

BASELINES = ("li2020", "dancenet", "dancerevolution")
T = 16  # context frames of the tiny test models


def tiny(name: str):
    """The architecture of ``name`` at test size: 16-frame context, width 16-32."""
    if name == "li2020":
        return Li2020Config(motion_len=T, d_model=16, n_heads=2, d_mlp=32, music_layers=1, motion_layers=2,
                            n_bins=32, target_len=T, dropout=0.0)
    if name == "dancenet":
        return DanceNetConfig(motion_len=T, channels=16, skip_channels=16, dilations=(1, 2, 4), rhythm_channels=4,
                              melody_channels=4, style_dim=4, n_mixtures=2, target_len=T)
    return DanceRevolutionConfig(motion_len=T, train_len=2 * T, d_model=16, n_heads=2, d_inner=32,
                                 attention_window=4, pose_embed=16, hidden_size=32, dropout=0.0, ac_steps_per_frame=1)


def clip(n: int, seed: int = 0) -> np.ndarray:
    """A smooth, valid FACT-vector clip ``(n, 225)``: swinging joints and a drifting root."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)[:, None] / 60.0
    pose = 0.4 * np.sin(2 * np.pi * 1.5 * t + rng.uniform(0, 6, 72)) * rng.uniform(0, 1, 72)
    transl = np.concatenate([0.2 * np.sin(t), 0.9 + 0.05 * np.sin(6 * t), 0.1 * t], axis=1)
    rotations = axis_angle_to_matrix(pose.reshape(n, 24, 3))
    return SMPLMotion(rotations, transl).to_fact_vector(padded=True).astype(np.float32)


def window(cfg, batch: int = 2, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    motion = torch.from_numpy(np.stack([clip(cfg.window_len, seed + i) for i in range(batch)]))
    audio = torch.randn(batch, cfg.window_len, 35, generator=torch.Generator().manual_seed(seed))
    return motion, audio


# ----------------------------------------------------------------------------- presets and configs


def test_presets_of_the_baselines_exist_with_their_architecture(capsys):
    for name in BASELINES:
        for preset in (name, f"{name}-small"):
            cfg = get_preset(preset)
            assert model_name(cfg) == name
            assert cfg.motion_len == 120 and cfg.n_future == 1 and cfg.default_frames_per_step == 1
            assert main(["config", "show", preset, "--json"]) == 0
            shown = json.loads(capsys.readouterr().out)
            assert shown["architecture"] == name and shown["params"] == count_parameters(cfg) > 0
            assert type(cfg).from_dict(shown["model"]) == cfg
    # Training settings are the preset's, apart from the architecture (aichoreo.train.TrainConfig).
    small = {name: get_preset_training(f"{name}-small") for name in BASELINES}
    assert {c["batch_size"] for c in small.values()} == {get_preset_training("fact-small")["batch_size"]}
    revolution = get_preset("dancerevolution")
    assert (revolution.encoder_layers, revolution.n_heads, revolution.d_model, revolution.hidden_size,
            revolution.attention_window, revolution.condition_step) == (2, 8, 200, 1024, 100, 10)
    assert get_preset_training("dancerevolution") == {"batch_size": 32, "lr": 1e-4}
    assert not {"lr", "batch_size", "max_steps"} & set(revolution.to_dict())


@pytest.mark.parametrize("preset, field, value, message", [
    ("li2020", "n_bins", 1, "n_bins must be an integer >= 2"),
    ("li2020", "target_len", 121, "target_len"),
    ("dancenet", "dilations", (), "at least one block"),
    ("dancenet", "audio_dim", 20, "audio_dim must be 35"),
    ("dancerevolution", "train_len", 120, "train_len must be an integer >= 121"),
    ("dancerevolution", "d_model", 201, "multiple of n_heads"),
])
def test_bad_baseline_configs_are_refused(preset, field, value, message):
    with pytest.raises(ValueError, match=message):
        get_preset(preset, **{field: value})


def test_config_list_shows_every_architecture(capsys):
    assert main(["config", "list"]) == 0
    listed = capsys.readouterr().out
    for name in BASELINES:
        assert f"{name}-small" in listed


# ----------------------------------------------------------------------------- shapes and gradients


@pytest.mark.parametrize("name", BASELINES)
def test_training_loss_is_finite_and_reaches_every_parameter(name):
    cfg = tiny(name)
    # Seeded: with other initial weights every ReLU unit of a tiny layer can be dead for this
    # one window (DanceNet's 8-wide style MLP was, after other tests had drawn from the RNG).
    torch.manual_seed(0)
    model = build_model(cfg)
    motion, audio = window(cfg)
    loss = model.training_loss(motion, audio, step=3)
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing


def test_output_shapes():
    cfg = tiny("li2020")
    motion, audio = window(cfg)
    assert Li2020(cfg)(motion[:, :T], audio[:, : cfg.audio_len]).shape == (2, T, 219, 32)
    cfg = tiny("dancenet")
    logit, mean, log_std = DanceNet(cfg)(motion[:, :T], audio[:, : cfg.audio_len])
    assert logit.shape == (2, T, 2) and mean.shape == log_std.shape == (2, T, 2, 219)
    cfg = tiny("dancerevolution")
    assert DanceRevolution(cfg).encode(audio).shape == (2, audio.shape[1], 16)
    with pytest.raises(ValueError, match=r"motion must have shape \(B, 16, 225\)"):
        Li2020(tiny("li2020"))(motion, audio)


@pytest.mark.parametrize("name", ["li2020", "dancenet"])
def test_outputs_depend_only_on_past_frames(name):
    cfg = tiny(name)
    model = build_model(cfg).eval()
    motion, audio = window(cfg, batch=1)
    motion, audio = motion[:, :T], audio[:, : cfg.audio_len]
    changed = motion.clone()
    changed[:, 9] += 0.5
    first = model(motion, audio)
    second = model(changed, audio)
    first, second = (first, second) if name == "li2020" else (first[1], second[1])  # dancenet: the means
    torch.testing.assert_close(first[:, :9], second[:, :9])
    assert not torch.allclose(first[:, 9:], second[:, 9:])


def test_li2020_bins_round_trip_within_half_a_bin():
    model = Li2020(tiny("li2020"))
    q = model.quantiser
    x = torch.cat([torch.empty(50, 3).uniform_(-3.9, 3.9), torch.empty(50, 216).uniform_(-1, 1)], dim=1)
    error = (q.centres(q.classes(x)) - x).abs()
    assert (error[:, :3] <= 4.0 / 32 + 1e-6).all() and (error[:, 3:] <= 1.0 / 32 + 1e-6).all()
    assert q.classes(torch.full((1, 219), 9.0)).eq(31).all() and q.classes(torch.full((1, 219), -9.0)).eq(0).all()


def test_local_attention_in_chunks_equals_one_banded_mask():
    torch.manual_seed(0)
    attn = LocalSelfAttention(d_model=8, n_heads=2, window=3, dropout=0.0, chunk=5).eval()
    x = torch.randn(2, 23, 8)
    q, k, v = attn.qkv(x).view(2, 23, 3, 2, 4).permute(2, 0, 3, 1, 4)
    i = torch.arange(23)
    band = (i[:, None] - i[None]).abs() <= 3
    expected = attn.out(F.scaled_dot_product_attention(q, k, v, attn_mask=band).transpose(1, 2).reshape(2, 23, 8))
    torch.testing.assert_close(attn(x), expected)


def test_dancerevolution_curriculum_alternates_own_and_true_frames():
    cfg = DanceRevolutionConfig(motion_len=2, train_len=20, condition_step=3, ac_steps_per_frame=10)
    assert not any(cfg.own_inputs(step=9, n_inputs=19))  # no own frames before the first growth
    pattern = "".join("o" if own else "g" for own in cfg.own_inputs(step=25, n_inputs=19))
    assert pattern == "gg" + "oogggoogggoogggoo"


# ----------------------------------------------------------------------------- learning one clip


@pytest.mark.parametrize("name", BASELINES)
def test_a_tiny_model_overfits_one_clip(name):
    torch.manual_seed(0)
    cfg = tiny(name)
    model = build_model(cfg)
    motion, audio = window(cfg, batch=1)
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    truth = motion[0, T].numpy()

    def next_frame_error() -> tuple[float, float]:
        """Mean |error| of the generated next frame: rotation entries, root translation (metres)."""
        x = generate(model, audio[0].numpy(), motion[0, :T].numpy(), n_frames=1)
        return float(np.abs(x[T, 9:] - truth[9:]).mean()), float(np.abs(x[T, 6:9] - truth[6:9]).mean())

    before = next_frame_error()
    with torch.no_grad():
        first = float(model.training_loss(motion, audio, step=0))
    for _ in range(150):
        loss = model.training_loss(motion, audio, step=0)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    with torch.no_grad():
        last = float(model.training_loss(motion, audio, step=0))
    # NLL can go below zero: for DanceNet compare nats per dim, otherwise the relative drop.
    assert (last < first - 2.0) if name == "dancenet" else (last < 0.2 * first)
    # And the generated next frame (sampled, for two of them) has moved onto the clip's.
    after = next_frame_error()
    assert after[0] < 0.2 * before[0], (before, after)
    assert after[1] < 0.5 * before[1] + 0.02, (before, after)


# ----------------------------------------------------------------------------- generation and files


@pytest.mark.parametrize("name", BASELINES)
def test_generation_runs_and_is_reproducible(name):
    torch.manual_seed(1)
    cfg = tiny(name)
    model = build_model(cfg)
    music = np.random.default_rng(0).standard_normal((2, 60, 35)).astype(np.float32)
    seed = np.stack([clip(T, 1), clip(T, 2)])
    x = generate(model, music, seed, n_frames=30, random_seed=5)
    assert x.shape == (2, T + 30, 225) and np.isfinite(x).all()
    np.testing.assert_array_equal(x[:, :T], seed)
    rot = x[:, T:, 9:].reshape(2, 30, 24, 3, 3)
    np.testing.assert_allclose(rot @ np.swapaxes(rot, -1, -2), np.broadcast_to(np.eye(3), rot.shape), atol=1e-4)
    np.testing.assert_array_equal(generate(model, music, seed, n_frames=30, random_seed=5), x)
    other = generate(model, music, seed, n_frames=30, random_seed=6)
    assert np.array_equal(other, x) == (name == "dancerevolution")  # only the sampling models vary
    with pytest.raises(ValueError, match=r"frames_per_step must be an integer in \[1, 1\]"):
        generate(model, music, seed, n_frames=30, frames_per_step=2)


@pytest.mark.parametrize("name", BASELINES)
def test_model_file_round_trip(tmp_path, name):
    cfg = tiny(name)
    model = build_model(cfg).eval()
    path = save_model_file(tmp_path / "m.pt", model, cfg, conventions=current_conventions(), step=7)
    loaded, loaded_cfg, meta = load_model_file(path)
    assert loaded_cfg == cfg and meta["step"] == 7 and type(loaded) is type(model)
    music = np.zeros((40, 35), np.float32)
    np.testing.assert_array_equal(generate(loaded, music, clip(T), n_frames=5),
                                  generate(model, music, clip(T), n_frames=5))


def test_a_model_file_from_another_config_is_refused(tmp_path, capsys):
    cfg = tiny("dancenet")
    path = save_model_file(tmp_path / "m.pt", build_model(cfg), cfg, conventions=current_conventions())
    state = torch.load(path, weights_only=True)
    state["config"]["channels"] = 24
    torch.save(state, tmp_path / "other.pt")
    with pytest.raises(Exception, match="does not fit the config"):
        load_model_file(tmp_path / "other.pt")


def test_train_and_dance_with_a_baseline_end_to_end(tmp_path, capsys):
    """`aichoreo train --config dancenet-small` on a small dataset, then `aichoreo dance --checkpoint`."""
    from test_cli_train import _write_dataset  # tests/ is on sys.path under pytest

    data = _write_dataset(tmp_path / "data", frames=150)
    demo_song = tmp_path / "clicks.wav"
    sf.write(demo_song, click_track(5.0, 120.0, 22050), 22050)
    run = tmp_path / "run"
    small = ["--set", "channels=8", "--set", "skip_channels=8", "--set", "dilations=1,2", "--set", "n_mixtures=2",
             "--set", "batch_size=4", "--set", "num_workers=0", "--set", "checkpoint_every=2", "--set", "val_every=2"]
    assert main(["train", "--config", "dancenet-small", "--data", str(data), "--out", str(run), "--max-steps", "3",
                 *small]) == 0
    saved = json.loads((run / "config.json").read_text())
    assert saved["architecture"] == "dancenet" and saved["preset"] == "dancenet-small"
    out = tmp_path / "dance"
    assert main(["dance", str(demo_song), "-o", str(out), "--checkpoint", str(run / "models" / "last.pt"),
                 "--seconds", "4", "--formats", "joints"]) == 0
    joints = np.load(out / demo_song.stem / "dance_joints.npy")
    assert joints.shape == (240, 24, 3) and np.isfinite(joints).all()  # 4 s at 60 fps, the frame at 4 s not
    summary = json.loads((out / demo_song.stem / "dance.json").read_text())
    assert summary["options"]["frames_per_step"] == 1 and summary["model"]["preset"] == "dancenet-small"
    # The run's model file records the conventions and the training settings, and no path of this machine.
    _, _, meta = load_model_file(run / "models" / "last.pt")
    assert meta["conventions"] == current_conventions() and meta["training"]["batch_size"] == 4
    assert meta["data"] == "data" and str(tmp_path) not in json.dumps(meta)


def test_dataclass_replace_keeps_validation():
    with pytest.raises(ValueError, match="temperature"):
        dataclasses.replace(tiny("li2020"), temperature=0.0)
